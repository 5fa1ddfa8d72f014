package healthcare.telemedicine

import rego.v1

# deny everything by default
default allow = false

# when a video call is allowed
allow if {
    input.action == "video_call"
    input.user.role == "authorized_medical_staff"
    input.patient.consent == true
    input.data_stays_local == true
}

# data may not be sent away from the node
deny if {
    input.action == "data_transfer"
    input.destination != "local"
}

# A hospital's variant of the case study's policy that lets the node report
# de-identified fleet figures to the hub. It REPLACES
# policies/healthcare/telemedicine.rego in a copy of the shipped bundle; it is
# not shipped in force. Choosing it is a decision for the hospital's privacy
# officer (see README.md beside this file).
package healthcare.telemedicine

import rego.v1

# deny everything by default
default allow = false

# when a video call is allowed (the case study's rule, unchanged)
allow if {
    input.action == "video_call"
    input.user.role == "authorized_medical_staff"
    input.patient.consent == true
    input.data_stays_local == true
}

# data may not be sent away from the node, except de-identified fleet figures to the hub
deny if {
    input.action == "data_transfer"
    input.destination != "local"
    not deidentified_fleet_report
}

allow if {
    input.action == "data_transfer"
    deidentified_fleet_report
}

# Only the two kinds of message the sync agent sends, only to the hub, only de-identified.
deidentified_fleet_report if {
    input.destination == "hub"
    input.data_stays_local == false
    input.resource.classification == "deidentified"
    input.resource.type in {"Heartbeat", "Aggregate"}
}

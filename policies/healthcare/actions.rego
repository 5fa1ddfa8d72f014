# Rules for the clinical actions beyond the seed's video call (ARCHITECTURE.md,
# "Rego input for clinical actions"). Same package as the seed, so the seed's
# `default allow = false` and `deny` stay in force: a decision allows only
# when `allow` is true and `deny` is not.
package healthcare.telemedicine

import rego.v1

clinician if input.user.role == "authorized_medical_staff"

patient_user if input.user.role == "patient"

admin if input.user.role == "admin"

# A patient acting on their own compartment.
own_compartment if {
	patient_user
	input.patient.id == input.user.id
}

record_actions := {"read_record", "write_record", "share_document"}

# A patient may join their own video call, with consent, data kept local.
allow if {
	input.action == "video_call"
	own_compartment
	input.patient.consent == true
	input.data_stays_local == true
}

allow if {
	input.action == "join_waiting_room"
	clinician
}

allow if {
	input.action == "join_waiting_room"
	own_compartment
}

allow if {
	input.action in record_actions
	input.data_stays_local == true
	clinician
}

allow if {
	input.action in record_actions
	input.data_stays_local == true
	own_compartment
}

# Live vitals flow only with the patient's consent (the same telehealth Consent as the call).
allow if {
	input.action == "stream_vitals"
	input.data_stays_local == true
	input.patient.consent == true
	clinician
}

allow if {
	input.action == "stream_vitals"
	input.data_stays_local == true
	input.patient.consent == true
	own_compartment
}

# Data outside any patient compartment (e.g. a Practitioner) is readable by patients.
allow if {
	input.action == "read_record"
	input.data_stays_local == true
	patient_user
	not input.patient
}

# Admins read the audit trail, nothing clinical.
allow if {
	input.action == "read_record"
	admin
	input.resource.type == "AuditEvent"
}

# Admins manage functions; clinicians may call and list them.
allow if {
	input.action == "run_function"
	admin
}

allow if {
	input.action == "run_function"
	clinician
	input.resource.operation in {"call", "list"}
}

# Transfers inside the node. Anything leaving it is denied by the seed's `deny`.
allow if {
	input.action == "data_transfer"
	input.destination == "local"
}

# A stable, PHI-free reason code for the decision log and 403 answers.
reason := "data_must_stay_local" if {
	deny
} else := "allowed" if {
	allow
} else := "data_not_local" if {
	input.data_stays_local != true
} else := "no_consent" if {
	input.action in {"video_call", "stream_vitals"}
	not input.patient.consent
} else := "not_in_compartment" if {
	patient_user
} else := "role_not_allowed"

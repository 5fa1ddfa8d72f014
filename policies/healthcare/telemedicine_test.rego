package healthcare.telemedicine_test

import rego.v1

import data.healthcare.telemedicine

clinician := {"id": "Practitioner/123", "role": "authorized_medical_staff"}

patient := {"id": "Patient/456", "role": "patient"}

base := {
	"action": "video_call",
	"user": clinician,
	"patient": {"id": "Patient/456", "consent": true},
	"data_stays_local": true,
	"destination": "local",
	"resource": {"type": "Observation", "classification": "phi"},
}

# ---- the seed: video calls ----

test_video_call_clinician_allowed if {
	telemedicine.allow with input as base
}

test_video_call_without_consent_denied if {
	not telemedicine.allow with input as object.union(base, {"patient": {"id": "Patient/456", "consent": false}})
}

test_video_call_data_leaving_denied if {
	not telemedicine.allow with input as object.union(base, {"data_stays_local": false})
}

test_video_call_unknown_role_denied if {
	not telemedicine.allow with input as object.union(base, {"user": {"id": "x", "role": "visitor"}})
}

test_video_call_patient_own_call_allowed if {
	telemedicine.allow with input as object.union(base, {"user": patient})
}

test_default_deny_for_unknown_action if {
	not telemedicine.allow with input as object.union(base, {"action": "launch_rocket"})
	telemedicine.reason == "role_not_allowed" with input as object.union(base, {"action": "launch_rocket"})
}

# ---- the seed: data transfer ----

test_data_transfer_off_node_denied if {
	telemedicine.deny with input as object.union(base, {"action": "data_transfer", "destination": "hub"})
	telemedicine.reason == "data_must_stay_local" with input as object.union(base, {"action": "data_transfer", "destination": "hub"})
}

test_data_transfer_local_allowed if {
	telemedicine.allow with input as object.union(base, {"action": "data_transfer"})
	not telemedicine.deny with input as object.union(base, {"action": "data_transfer"})
}

package healthcare.actions_test

import rego.v1

import data.healthcare.telemedicine

clinician := {"id": "Practitioner/123", "role": "authorized_medical_staff"}

patient := {"id": "Patient/456", "role": "patient"}

other_patient := {"id": "Patient/999", "role": "patient"}

admin := {"id": "Practitioner/1", "role": "admin"}

req(action, user) := {
	"action": action,
	"user": user,
	"patient": {"id": "Patient/456", "consent": true},
	"data_stays_local": true,
	"destination": "local",
	"resource": {"type": "Observation", "classification": "phi"},
}

test_waiting_room if {
	telemedicine.allow with input as req("join_waiting_room", clinician)
	telemedicine.allow with input as req("join_waiting_room", patient)
	not telemedicine.allow with input as req("join_waiting_room", other_patient)
}

test_records_clinician if {
	every action in ["read_record", "write_record", "share_document", "stream_vitals"] {
		telemedicine.allow with input as req(action, clinician)
	}
}

test_records_own_compartment_only if {
	telemedicine.allow with input as req("read_record", patient)
	telemedicine.allow with input as req("write_record", patient)
	not telemedicine.allow with input as req("read_record", other_patient)
	telemedicine.reason == "not_in_compartment" with input as req("read_record", other_patient)
}

test_records_must_stay_local if {
	not telemedicine.allow with input as object.union(req("read_record", clinician), {"data_stays_local": false})
	telemedicine.reason == "data_not_local" with input as object.union(req("read_record", clinician), {"data_stays_local": false})
}

test_patient_reads_non_patient_data if {
	telemedicine.allow with input as object.remove(req("read_record", patient), ["patient"])
	not telemedicine.allow with input as object.remove(req("write_record", patient), ["patient"])
}

test_admin_reads_audit_only if {
	telemedicine.allow with input as object.union(req("read_record", admin), {"resource": {"type": "AuditEvent"}})
	not telemedicine.allow with input as req("read_record", admin)
}

test_run_function if {
	telemedicine.allow with input as req("run_function", admin)
	not telemedicine.allow with input as req("run_function", clinician)
	telemedicine.allow with input as fn_req("call", clinician)
	telemedicine.allow with input as fn_req("list", clinician)
	not telemedicine.allow with input as fn_req("register", clinician)
	telemedicine.allow with input as fn_req("register", admin)
	not telemedicine.allow with input as fn_req("call", patient)
}

fn_req(operation, user) := object.union(req("run_function", user), {"resource": {"type": "Function", "operation": operation}})

test_vitals_need_consent if {
	telemedicine.allow with input as req("stream_vitals", clinician)
	telemedicine.allow with input as req("stream_vitals", patient)
	no_consent := object.union(req("stream_vitals", clinician), {"patient": {"id": "Patient/456", "consent": false}})
	not telemedicine.allow with input as no_consent
	telemedicine.reason == "no_consent" with input as no_consent
	not telemedicine.allow with input as req("stream_vitals", other_patient)
}

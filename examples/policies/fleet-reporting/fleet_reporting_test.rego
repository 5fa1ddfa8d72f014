package healthcare.fleet_reporting_test

import rego.v1

import data.healthcare.telemedicine

node := {"id": "Device/node-1", "role": "admin"}

report := {
	"action": "data_transfer",
	"user": node,
	"data_stays_local": false,
	"destination": "hub",
	"resource": {"type": "Aggregate", "classification": "deidentified"},
}

test_deidentified_aggregate_to_hub_allowed if {
	telemedicine.allow with input as report
	not telemedicine.deny with input as report
	telemedicine.reason == "allowed" with input as report
}

test_heartbeat_to_hub_allowed if {
	telemedicine.allow with input as object.union(report, {"resource": {"type": "Heartbeat", "classification": "deidentified"}})
}

test_phi_to_hub_denied if {
	telemedicine.deny with input as object.union(report, {"resource": {"type": "Observation", "classification": "phi"}})
}

test_deidentified_record_to_hub_denied if {
	telemedicine.deny with input as object.union(report, {"resource": {"type": "Observation", "classification": "deidentified"}})
}

test_deidentified_elsewhere_denied if {
	telemedicine.deny with input as object.union(report, {"destination": "research-partner"})
	telemedicine.reason == "data_must_stay_local" with input as object.union(report, {"destination": "research-partner"})
}

test_video_call_rule_unchanged if {
	telemedicine.allow with input as {
		"action": "video_call",
		"user": {"role": "authorized_medical_staff"},
		"patient": {"consent": true},
		"data_stays_local": true,
	}
	not telemedicine.allow with input as {
		"action": "video_call",
		"user": {"role": "authorized_medical_staff"},
		"patient": {"consent": false},
		"data_stays_local": true,
	}
}

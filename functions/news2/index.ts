// NEWS2, the National Early Warning Score 2 (Royal College of Physicians,
// "National Early Warning Score (NEWS) 2", 2017, chart 1 and chart 2).
//
// Input: {"respiratoryRate":25,"spo2":91,"onOxygen":false,"systolicBP":95,
//         "heartRate":115,"consciousness":"A","temperature":38.5,"spo2Scale":1}
// (onOxygen defaults to false (air), spo2Scale to 1; consciousness is one of
// A, C, V, P, U or alert, confusion, voice, pain, unresponsive.)
// Output: {"score":11,"risk":"high","redScore":true,"scale":1,"components":{...}}
// risk: low (0-4), low-medium (1-4 with a single parameter scoring 3),
// medium (5-6), high (7 or more).
// Respiratory rate, SpO2, systolic BP and heart rate are charted as whole
// numbers: a fractional reading is rounded to the nearest before scoring.

import { input, writeOutput, fail, JSONWriter, JSONValue } from "../sdk";

function whole(v: JSONValue, key: string, lo: f64, hi: f64): f64 {
  const x = v.number(key);
  if (x < lo || x > hi) fail(key + " is out of range (" + lo.toString() + "-" + hi.toString() + ")");
  return Math.round(x);
}

function respiration(rr: f64): i32 {
  if (rr <= 8) return 3;
  if (rr <= 11) return 1;
  if (rr <= 20) return 0;
  if (rr <= 24) return 2;
  return 3;
}

function spo2Scale1(s: f64): i32 {
  if (s <= 91) return 3;
  if (s <= 93) return 2;
  if (s <= 95) return 1;
  return 0;
}

// Scale 2: for patients with a prescribed target range of 88-92 % (hypercapnic respiratory failure).
function spo2Scale2(s: f64, onOxygen: bool): i32 {
  if (s <= 83) return 3;
  if (s <= 85) return 2;
  if (s <= 87) return 1;
  if (s <= 92 || !onOxygen) return 0;
  if (s <= 94) return 1;
  if (s <= 96) return 2;
  return 3;
}

function systolic(bp: f64): i32 {
  if (bp <= 90) return 3;
  if (bp <= 100) return 2;
  if (bp <= 110) return 1;
  if (bp <= 219) return 0;
  return 3;
}

function pulse(hr: f64): i32 {
  if (hr <= 40) return 3;
  if (hr <= 50) return 1;
  if (hr <= 90) return 0;
  if (hr <= 110) return 1;
  if (hr <= 130) return 2;
  return 3;
}

function temperature(t: f64): i32 {
  if (t <= 35.0) return 3;
  if (t <= 36.0) return 1;
  if (t <= 38.0) return 0;
  if (t <= 39.0) return 1;
  return 2;
}

function consciousness(c: string): i32 {
  const u = c.toUpperCase();
  if (u == "A" || u == "ALERT") return 0;
  if (u == "C" || u == "V" || u == "P" || u == "U" || u == "CONFUSION" || u == "NEW CONFUSION" ||
      u == "VOICE" || u == "PAIN" || u == "UNRESPONSIVE") return 3;
  fail("consciousness must be one of A, C, V, P, U");
  return 0;
}

const v = input();
if (!v.isObject()) fail("the input must be a JSON object of vital signs");
let scale: i32 = 1;
if (v.has("spo2Scale")) {
  const s = v.number("spo2Scale");
  if (s != 1 && s != 2) fail("spo2Scale must be 1 or 2");
  scale = <i32>s;
}
const onOxygen = v.boolOr("onOxygen", false);
const rr = respiration(whole(v, "respiratoryRate", 0, 100));
const sat = whole(v, "spo2", 0, 100);
const ox = scale == 2 ? spo2Scale2(sat, onOxygen) : spo2Scale1(sat);
const air = onOxygen ? 2 : 0;
const bp = systolic(whole(v, "systolicBP", 0, 400));
const hr = pulse(whole(v, "heartRate", 0, 350));
const acvpu = consciousness(v.string("consciousness"));
const temp = v.number("temperature");
if (temp < 20 || temp > 46) fail("temperature is out of range (20-46 degrees C)");
const t = temperature(temp);

const score = rr + ox + air + bp + hr + acvpu + t;
const red = rr == 3 || ox == 3 || bp == 3 || hr == 3 || acvpu == 3 || t == 3;
let risk = "low";
if (score >= 7) risk = "high";
else if (score >= 5) risk = "medium";
else if (red) risk = "low-medium";

writeOutput(new JSONWriter()
  .beginObject()
  .key("score").int(score)
  .key("risk").str(risk)
  .key("redScore").bool(red)
  .key("scale").int(scale)
  .key("components").beginObject()
    .key("respiratoryRate").int(rr)
    .key("spo2").int(ox)
    .key("airOrOxygen").int(air)
    .key("systolicBP").int(bp)
    .key("heartRate").int(hr)
    .key("consciousness").int(acvpu)
    .key("temperature").int(t)
  .endObject()
  .endObject()
  .toString());

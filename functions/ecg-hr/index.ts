// ecg-hr: R-peak detection and heart rate from an ECG trace in a FHIR
// SampledData (https://hl7.org/fhir/R4/datatypes.html#SampledData).
//
// Input: a SampledData, or an Observation whose valueSampledData (or first
// component's valueSampledData) holds the trace. `period` is milliseconds
// between samples; each value is origin + factor * datum; "E", "L" and "U"
// data repeat the previous value. With `dimensions` > 1 the first lead is used.
// Output: {"heartRate":72,"unit":"/min","rPeaks":12,"rrMeanMs":833,
//          "rrSdMs":4,"durationSeconds":10,"samplingHz":250}
//
// Detection after Pan and Tompkins (IEEE Trans Biomed Eng 1985;32:230-6),
// simplified: baseline removal (200 ms and 600 ms moving averages), the
// squared derivative integrated over 150 ms, an adaptive threshold between
// signal and noise levels, a 250 ms refractory period, and each R peak placed
// at the largest deflection (of the lead's QRS polarity) of the filtered
// signal within 100 ms of the integrator's peak.

import { input, writeOutput, fail, JSONWriter, JSONValue } from "../sdk";

function traceOf(v: JSONValue): JSONValue {
  if (v.has("data") && v.has("period")) return v;
  const direct = v.get("valueSampledData");
  if (direct !== null && direct.isObject()) return direct;
  const comps = v.get("component");
  if (comps !== null && comps.isArray()) {
    for (let i = 0; i < comps.items.length; i++) {
      const s = comps.items[i].get("valueSampledData");
      if (s !== null && s.isObject()) return s;
    }
  }
  fail("the input must be a SampledData or an Observation with valueSampledData");
  return v;
}

function movingAverage(x: Float64Array, width: i32): Float64Array {
  const n = x.length;
  const out = new Float64Array(n);
  const half = width >> 1;
  let sum: f64 = 0;
  let lo = 0, hi = 0; // window [lo, hi)
  for (let i = 0; i < n; i++) {
    const wantHi = min(n, i + half + 1);
    const wantLo = max(0, i - half);
    while (hi < wantHi) { sum += x[hi]; hi++; }
    while (lo < wantLo) { sum -= x[lo]; lo++; }
    out[i] = sum / <f64>(hi - lo);
  }
  return out;
}

const v = input();
if (!v.isObject()) fail("the input must be a JSON object");
const sd = traceOf(v);
const period = sd.number("period");
if (!(period > 0) || period > 100) fail("period must be between 0 and 100 milliseconds");
let factor: f64 = 1;
if (sd.has("factor")) factor = sd.number("factor");
let origin: f64 = 0;
const o = sd.get("origin");
if (o !== null && o!.has("value")) origin = o!.number("value");
let dims: i32 = 1;
if (sd.has("dimensions")) {
  const d = sd.number("dimensions");
  if (d < 1 || d > 16 || d != Math.floor(d)) fail("dimensions must be a whole number from 1 to 16");
  dims = <i32>d;
}

const words = sd.string("data").split(" ");
const count = words.length / dims;
if (count < 2) fail("the trace is too short");
const x = new Float64Array(count);
let last: f64 = origin;
for (let i = 0; i < count; i++) {
  const w = words[i * dims];
  if (w == "E" || w == "L" || w == "U" || w.length == 0) { x[i] = last; continue; }
  const d = parseFloat(w);
  if (isNaN(d)) fail("data holds a value that is not a decimal");
  last = origin + factor * d;
  x[i] = last;
}

const fs: f64 = 1000 / period;
const duration: f64 = <f64>count / fs;
if (duration < 3) fail("the trace must cover at least 3 seconds");
const ms = (t: f64): i32 => max(1, <i32>Math.round(t * fs / 1000));

// Baseline removal: two cascaded moving averages estimate the wander (and the
// P and T waves), which are subtracted from the trace.
const baseline = movingAverage(movingAverage(x, ms(200)), ms(600));
const f = new Float64Array(count);
for (let i = 0; i < count; i++) f[i] = x[i] - baseline[i];

// Squared derivative, integrated over 150 ms.
const dsq = new Float64Array(count);
for (let i = 2; i < count - 2; i++) {
  const d = (2 * f[i + 1] + f[i + 2] - f[i - 2] - 2 * f[i - 1]) / 8;
  dsq[i] = d * d;
}
const mwi = movingAverage(dsq, ms(150));

// Adaptive thresholds, learnt over the first 2 seconds.
let spk: f64 = 0;
let npk: f64 = 0;
const learn = min(count, ms(2000));
for (let i = 0; i < learn; i++) spk = max(spk, mwi[i]);
spk *= 0.5;
for (let i = 0; i < learn; i++) npk += mwi[i];
npk = npk / <f64>learn;
if (spk <= 0) fail("no R peaks found: the trace is flat");

// QRS polarity of this lead: R peaks are the largest deflections on the side
// where the filtered trace reaches furthest (negative in leads such as aVR).
let hiF: f64 = 0, loF: f64 = 0;
for (let k = 0; k < count; k++) { hiF = max(hiF, f[k]); loF = min(loF, f[k]); }
const polarity: f64 = hiF >= -loF ? 1 : -1;

const refractory = ms(250);
const search = ms(100);
const peaks = new Array<i32>();
let i = 1;
while (i < count - 1) {
  const threshold = npk + 0.25 * (spk - npk);
  if (mwi[i] > threshold && mwi[i] >= mwi[i - 1] && mwi[i] >= mwi[i + 1]) {
    // Place the R peak at the largest deflection of the filtered trace near the integrator's peak.
    let best = i;
    for (let j = max(0, i - search); j < min(count, i + search); j++) if (polarity * f[j] > polarity * f[best]) best = j;
    if (peaks.length == 0 || best - peaks[peaks.length - 1] >= refractory) {
      peaks.push(best);
      spk = 0.125 * mwi[i] + 0.875 * spk;
      i += refractory;
      continue;
    }
  } else if (mwi[i] >= mwi[i - 1] && mwi[i] >= mwi[i + 1]) {
    npk = 0.125 * mwi[i] + 0.875 * npk;
  }
  i++;
}

if (peaks.length < 2) fail("fewer than two R peaks found");
const rr = new Float64Array(peaks.length - 1);
let sum: f64 = 0;
for (let k = 1; k < peaks.length; k++) {
  rr[k - 1] = <f64>(peaks[k] - peaks[k - 1]) * period;
  sum += rr[k - 1];
}
const mean = sum / <f64>rr.length;
let sq: f64 = 0;
for (let k = 0; k < rr.length; k++) sq += (rr[k] - mean) * (rr[k] - mean);
const sdev = Math.sqrt(sq / <f64>rr.length);

writeOutput(new JSONWriter()
  .beginObject()
  .key("heartRate").int(<i64>Math.round(60000 / mean))
  .key("unit").str("/min")
  .key("rPeaks").int(peaks.length)
  .key("rrMeanMs").int(<i64>Math.round(mean))
  .key("rrSdMs").int(<i64>Math.round(sdev))
  .key("durationSeconds").num(Math.round(duration * 10) / 10)
  .key("samplingHz").num(Math.round(fs * 10) / 10)
  .endObject()
  .toString());

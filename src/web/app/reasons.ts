// Refusal reasons of a join (PROTOCOL.md, join_refused.reason) in words a patient or clinician understands.

const REASONS: Record<string, { title: string; detail: string }> = {
  no_consent: {
    title: 'Consent for video consultations is missing',
    detail: 'No active consent to video consultations (telehealth) is on record for this patient. The call cannot start without it: please contact the clinic to give or renew consent.',
  },
  not_a_participant: {
    title: 'This consultation is not yours',
    detail: 'You are signed in as someone who is not booked for this consultation. Check that you opened your own link, or sign in with the right account.',
  },
  appointment_not_found: {
    title: 'This consultation is not available to you',
    detail: 'There is no consultation at this link for your account. Check that you opened your own link, or ask the clinic for a new one.',
  },
  role_not_allowed: {
    title: 'Your account cannot join video consultations',
    detail: 'Only the booked clinician and the patient may join a consultation; your account has another role. Ask the clinic to check your account.',
  },
  call_ended: {
    title: 'This consultation has ended',
    detail: 'The clinician has closed this consultation. If you need to talk again, please book a new appointment.',
  },
  appointment_not_active: {
    title: 'This consultation is not open',
    detail: 'The appointment was cancelled or is not booked. Please contact the clinic.',
  },
  appointment_without_patient: {
    title: 'This consultation has no patient',
    detail: 'The appointment names no patient, so no call can take place. Please contact the clinic.',
  },
  data_not_local: {
    title: 'Refused to protect your data',
    detail: 'The call would send data away from this clinic’s node, which its policy does not allow.',
  },
  data_must_stay_local: {
    title: 'Refused to protect your data',
    detail: 'The call would send data away from this clinic’s node, which its policy does not allow.',
  },
  not_in_compartment: {
    title: 'This consultation is not yours',
    detail: 'You are signed in as a patient who is not booked for this consultation. Check that you opened your own link.',
  },
  policy_default_deny: {
    title: 'The clinic’s policy does not allow this call',
    detail: 'No rule of the clinic’s policy allows this video consultation. Please contact the clinic.',
  },
  policy_error: {
    title: 'The clinic could not check this call just now',
    detail: 'The clinic’s policy could not be evaluated. Please try again in a minute; if it keeps happening, contact the clinic.',
  },
  resume_failed: {
    title: 'Your place in the call expired',
    detail: 'You were away for too long. Join again to return to the consultation.',
  },
  replaced: {
    title: 'You joined from another window',
    detail: 'This consultation is now open in another tab or device, so this one was closed.',
  },
  auth_failed: {
    title: 'Your sign-in is no longer valid',
    detail: 'Please open the sign-in link from your clinic again.',
  },
};

/** The reasons with their own words (a test checks the node's refusal reasons are among them). */
export const KNOWN_REASONS: readonly string[] = Object.keys(REASONS);

/** Title and explanation for a refusal reason; unknown ones (a policy's own) get a generic text naming the code. */
export function refusal(reason: string | undefined): { title: string; detail: string } {
  return (
    (reason && REASONS[reason]) || {
      title: 'You cannot join this consultation',
      detail: `The clinic’s policy refused the join${reason ? ` (${reason.replaceAll('_', ' ')})` : ''}. Please contact the clinic.`,
    }
  );
}

// Numbers said in words: the NPS interval, the retention model, the risk model's quality, the
// signals behind a churn risk and what to do about them. Shared by the pages.
import { money, number, percent, isNum } from "./format.js";

/** "Between 1 and 52 (95% sure); 39 answers are few." */
export function npsSentence(nps) {
  if (!nps) return "";
  if (!isNum(nps.score)) return `${number(nps.responses)} answers so far; a score needs at least 30.`;
  const width = nps.ci_high - nps.ci_low;
  const few = nps.responses < 100 || width > 30;
  return `Between ${number(nps.ci_low)} and ${number(nps.ci_high)} (95% interval); ${number(nps.responses)} answers ${few ? "are few, so the score is rough" : "make it fairly precise"}.`;
}

/** "A subscriber joining today stays 7.4 renewals on average; expected value $X." */
export function retentionSentence(doc) {
  const model = (doc.retention || {}).model || {};
  const ltv = doc.predicted_ltv || {};
  const value = isNum(ltv.amount) ? `; expected value ${money(ltv.amount, ltv.currency)}` : "";
  if (model.converged && isNum(model.alpha) && isNum(model.beta)) {
    const renewals = expectedRenewals(model.alpha, model.beta);
    if (isNum(renewals)) return `A subscriber joining today stays ${renewals.toFixed(1)} renewals on average${value}.`;
  }
  if (isNum(model.pooled_rate) && model.pooled_rate > 0) {
    return `About ${percent(model.pooled_rate)} of subscribers leave at each renewal (a simple average; the full model needs more history)${value}.`;
  }
  return model.reason || "Not enough history to model retention yet.";
}

/**
 * Expected renewals of a new subscriber under the sBG: Σ_{t≥1} S(t), S(t) = Π_{i<t} (β+i)/(α+β+i).
 * Summed until the terms are negligible; infinite (no churn) → null.
 */
export function expectedRenewals(alpha, beta) {
  if (!(alpha > 0 && beta > 0)) return null;
  let s = 1;
  let total = 0;
  for (let t = 0; t < 100000; t += 1) {
    s *= (beta + t) / (alpha + beta + t);
    total += s;
    if (s < 1e-6) return total;
  }
  return null;
}

/** The risk model's quality in words, or that fixed rules are used and why. */
export function riskModelSentence(model) {
  if (!model) return "";
  if (model.method === "logistic" && isNum(model.auc)) {
    const lift = isNum(model.top_decile_lift) ? `; the riskiest tenth left ${model.top_decile_lift.toFixed(1)}× as often as average` : "";
    return `Risk comes from this shop's own model: on the latest month it had not seen, it ranked a subscriber who left above one who stayed ${percent(model.auc, 0)} of the time (50% would be guessing)${lift}.`;
  }
  return `Risk uses fixed rules (failed payments, cancel attempts, pauses, low scores, skips) until the shop has enough history to learn its own${model.reason ? `: ${model.reason}` : ""}.`;
}

/** [[currency, amount], …] of a money document, the primary currency first, then largest. */
export function currencies(doc) {
  if (!doc) return [];
  const entries = Object.entries(doc.by_currency || {}).filter(([, v]) => isNum(v));
  entries.sort((a, b) => (a[0] === doc.currency ? -1 : b[0] === doc.currency ? 1 : b[1] - a[1]));
  return entries;
}

const SIGNALS = {
  failed_payment: [(n) => `${n} failed payment${n > 1 ? "s" : ""} in 90 days`, "Ask them to update their payment method."],
  cancel_attempt: [(n) => `started to cancel ${n > 1 ? `${n} times` : "once"} in 90 days`, "Reach out before they try again; offer a pause or a smaller plan."],
  paused: [() => "paused in the last 90 days", "Check in before the pause ends; remind them what is coming."],
  detractor: [(n, s) => `scored you ${isNum(s) ? s : "0–6"} out of 10`, "Reply to their survey answer and fix what they raised."],
  skip: [(n) => `skipped ${n} deliver${n > 1 ? "ies" : "y"} in 90 days`, "Offer a longer interval between deliveries."],
  cadence_complaint: [() => "said they get too much product", "Offer a longer interval or a smaller quantity."],
  early_tenure: [() => "new: most cancellations come in the first renewals", "Send a welcome check-in before the next renewal."],
};

/** The signals behind a risk, as words (strongest first). */
export function whyList(why) {
  if (!why || !why.length) return "only their tenure (no warning signs recorded)";
  return why.slice(0, 3).map((w) => (SIGNALS[w.signal] ? SIGNALS[w.signal][0](w.count, w.score) : w.signal)).join("; ");
}

/** The suggested next step for the strongest signal. */
export function nextStep(why) {
  const first = why && why.find((w) => SIGNALS[w.signal]);
  return first ? SIGNALS[first.signal][1] : "Thank them: a personal note keeps good subscribers.";
}

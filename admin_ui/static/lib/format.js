// Formatting numbers for people. Missing values (null, NaN) read as an em dash, never as 0.
// Money is always one amount in one currency: nothing here adds currencies together.

export const DASH = "—";
export const isNum = (v) => typeof v === "number" && Number.isFinite(v);

const cache = new Map();
function fmt(key, options) {
  if (!cache.has(key)) cache.set(key, new Intl.NumberFormat(undefined, options));
  return cache.get(key);
}

export function money(amount, currency, { compact = false } = {}) {
  if (!isNum(amount)) return DASH;
  if (!currency) return fmt("n2", { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(amount);
  try {
    const short = compact && Math.abs(amount) >= 10000;
    const opts = { style: "currency", currency };
    if (short) Object.assign(opts, { notation: "compact", maximumFractionDigits: 1 });
    return fmt(`m-${currency}-${short}`, opts).format(amount);
  } catch (_) {
    return `${amount.toFixed(2)} ${currency}`;
  }
}

/** A fraction in [0, 1] as a percentage: percent(0.123) → "12.3%". */
export function percent(x, digits = 1) {
  return isNum(x) ? `${(100 * x).toFixed(digits)}%` : DASH;
}

export function number(x, digits = 0) {
  return isNum(x) ? fmt(`n-${digits}`, { maximumFractionDigits: digits, minimumFractionDigits: digits }).format(x) : DASH;
}

/** An ISO date or timestamp as a local date ("7 Dec 2026"); a month "2026-05" as "May 2026". */
export function date(iso) {
  if (!iso) return DASH;
  const text = String(iso);
  if (/^\d{4}-\d{2}$/.test(text)) {
    const [y, m] = text.split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, 1)).toLocaleDateString(undefined, { month: "short", year: "numeric", timeZone: "UTC" });
  }
  const plainDay = /^\d{4}-\d{2}-\d{2}$/.test(text);
  const d = new Date(plainDay ? `${text}T00:00:00Z` : text);
  if (Number.isNaN(d.getTime())) return text;
  return d.toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric", ...(plainDay ? { timeZone: "UTC" } : {}) });
}

export function dateTime(iso) {
  if (!iso) return DASH;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** A change with its sign: points for NPS, percentage points for rates, else the unit's format. */
export function signed(delta, unit = "count", currency = null) {
  if (!isNum(delta)) return DASH;
  const sign = delta > 0 ? "+" : delta < 0 ? "−" : "±";
  const size = Math.abs(delta);
  switch (unit) {
    case "share": return `${sign}${(100 * size).toFixed(1)} pts`;
    case "points": return `${sign}${size.toFixed(1)}`;
    case "money": return sign + money(size, currency);
    case "score": return `${sign}${size.toFixed(2)}`;
    default: return sign + number(size, size < 10 && size % 1 ? 1 : 0);
  }
}

/** A value in the unit a metric is measured in. */
export function byUnit(value, unit, currency = null) {
  switch (unit) {
    case "share": return percent(value);
    case "points": return number(value, 0);
    case "money": return money(value, currency);
    case "days": return isNum(value) ? `${value.toFixed(1)} days` : DASH;
    case "score": return isNum(value) ? `${value.toFixed(2)} / 5` : DASH;
    default: return number(value);
  }
}

/** snake_case code → "snake case". */
export const label = (code) => String(code ?? "").replaceAll("_", " ");

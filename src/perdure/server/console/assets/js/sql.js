// Portable SQL building blocks: plain string literals and AND-ed conditions, nothing that
// only one engine understands.

/** A SQL string literal. */
export const lit = (value) => `'${String(value).replaceAll("'", "''")}'`;

/** `x IN ('a', 'b')`, or a condition that is never true for an empty list. */
export const inList = (column, values) =>
  values.length ? `${column} IN (${values.map(lit).join(", ")})` : "1 = 0";

/** ` WHERE (a) AND (b)` over the non-empty conditions, or "". */
export function where(conditions) {
  const kept = conditions.filter((c) => c && c.trim());
  return kept.length ? ` WHERE ${kept.map((c) => `(${c})`).join(" AND ")}` : "";
}

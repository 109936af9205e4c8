/**
 * One entry of a field's value list: an exact value (`"orders"`, `300`, `true`, `null`) or an
 * operator object such as `{ "prefix": "us-" }` or `{ "numeric": [">", 0] }`.
 *
 * @example
 * const values: PatternValue[] = ['orders', 300, null, { prefix: 'us-' }]
 */
export type PatternValue = string | number | boolean | null | { readonly [operator: string]: unknown }

/**
 * An Amazon EventBridge event pattern: the same nesting as the events it matches, with a list of
 * allowed values at each leaf and `$or` for alternatives. Loosely typed: use `validatePattern` to
 * check one.
 *
 * @example
 * const pattern: EventPattern = {
 *   source: ['orders'],
 *   detail: { amount: [{ numeric: ['>', 100] }] },
 * }
 */
export interface EventPattern {
  readonly [field: string]: EventPattern | readonly PatternValue[] | readonly EventPattern[]
}

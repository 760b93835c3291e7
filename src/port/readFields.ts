/**
 * `readFields`, written once for both ports: `Config.option`, `Config.all` and `Config.map` have the
 * same names and meaning in Effect 3 and Effect 4, so each target compiles this file against its own
 * `effect`.
 *
 * @internal
 */
import * as Config from "effect/Config"
import * as Option from "effect/Option"

/**
 * Reads whichever of `fields` are present, under the current namespace, into a plain record; the
 * Schema then checks them, so a bad value is reported with its field name like any other option.
 */
export const readFields = <K extends string>(
  fields: Record<K, (name: string) => Config.Config<unknown>>
): Config.Config<Partial<Record<K, unknown>>> => {
  const optional: Record<string, Config.Config<Option.Option<unknown>>> = {}
  for (const [key, read] of Object.entries<(name: string) => Config.Config<unknown>>(fields)) {
    optional[key] = Config.option(read(key))
  }
  return Config.map(Config.all(optional), (values) => {
    const present: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(values)) {
      if (Option.isSome(value)) present[key] = value.value
    }
    return present as Partial<Record<K, unknown>>
  })
}

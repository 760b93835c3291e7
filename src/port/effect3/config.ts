/**
 * Config readers whose names differ between Effect 3 and Effect 4 (Effect 3's side;
 * `../effect4/config.ts` has the same names).
 *
 * @internal
 */
import * as Config from "effect/Config"
import * as Option from "effect/Option"

/**
 * Every entry under `name`, each read with `config`, by key; `{}` when `name` is absent (Effect 3:
 * `Config.hashMap`; Effect 4: the keys listed, then `config` nested under each).
 */
export const configRecord = <A>(config: Config.Config<A>, name: string): Config.Config<Record<string, A>> =>
  Config.map(
    Config.option(Config.hashMap(config, name)),
    (map) => Object.fromEntries(Option.match(map, { onNone: () => [], onSome: (m) => Array.from(m) }))
  )

/**
 * Config readers whose names differ between Effect 3 and Effect 4 (Effect 3's side;
 * `../effect4/config.ts` has the same names).
 *
 * @internal
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Either from "effect/Either"
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

/** A list of strings: a JSON array, or comma-separated text in the environment (Effect 3: `Config.array`). */
export const configList = (name: string): Config.Config<ReadonlyArray<string>> => Config.array(Config.string(), name)

/**
 * `config`, but absent (missing data, which `Config.option` reads as none) when `isEmpty` holds for its
 * value (Effect 3: `Config.mapOrFail` with `ConfigError.MissingData`).
 */
export const absentWhen = <A>(
  config: Config.Config<A>,
  isEmpty: (value: A) => boolean,
  name: string,
  message: string
): Config.Config<A> =>
  Config.mapOrFail(
    config,
    (value) => isEmpty(value) ? Either.left(ConfigError.MissingData([name], message)) : Either.right(value)
  )

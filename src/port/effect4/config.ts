/**
 * Config readers whose names differ between Effect 3 and Effect 4 (Effect 4's side; see
 * `../effect3/config.ts`).
 *
 * @internal
 */
import * as Config from "effect/Config"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"

// Effect 4 has no reader of a map of nested configs: the keys under `name` are read as a record of
// flat records of strings (what every guard's settings are), then `config` is read under each key.
const entriesUnder = (name: string) =>
  Config.option(Config.schema(Schema.Record(Schema.String, Schema.Record(Schema.String, Schema.String)), name))

/**
 * Every entry under `name`, each read with `config`, by key; `{}` when `name` is absent (Effect 3:
 * `Config.hashMap`; Effect 4: the keys listed, then `config` nested under each).
 */
export const configRecord = <A>(config: Config.Config<A>, name: string): Config.Config<Record<string, A>> =>
  Config.flatMap(entriesUnder(name), (entries) =>
    Option.isNone(entries) ? Config.succeed({}) : Config.all(
      Object.fromEntries(
        Object.keys(entries.value).map((key) => [key, Config.nested(Config.nested(config, key), name)] as const)
      )
    ) as Config.Config<Record<string, A>>)

/** A list of strings: a JSON array, or comma-separated text in the environment (Effect 4: `Config.Array`). */
export const configList = (name: string): Config.Config<ReadonlyArray<string>> => Config.Array(Schema.String, name)

// Effect 4 keeps absence (what `Config.option` and `withDefault` recover) internal: a schema config finding
// no input is absent, so `Schema.Never` under a key no provider has reads as absent wherever it is nested.
const absent: Config.Config<never> = Config.schema(Schema.Never, "\u0000absent")

/**
 * `config`, but absent (what `Config.option` reads as none) when `isEmpty` holds for its value (Effect 4:
 * `Config.flatMap` into a config that finds no input; `name` and `message` are Effect 3's missing-data text).
 */
export const absentWhen = <A>(
  config: Config.Config<A>,
  isEmpty: (value: A) => boolean,
  _name: string,
  _message: string
): Config.Config<A> => Config.flatMap(config, (value) => isEmpty(value) ? absent : Config.succeed(value))

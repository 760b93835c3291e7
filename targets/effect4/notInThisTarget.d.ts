// What an integration's subpath resolves to in this target's type-check when Effect 4's release of that
// integration has no such module (tsconfig.json `paths`, the last substitution): without it TypeScript
// falls back to the repository's node_modules and types the import with the Effect 3 release. Using
// anything from it is an error naming this file.
export {}

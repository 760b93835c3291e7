import effect from "@effect/eslint-plugin"
import tseslint from "typescript-eslint"

export default tseslint.config(
  {
    ignores: [
      ".scratch*/**",
      "dist/**",
      "node_modules/**",
      "targets/*/node_modules/**",
      "targets/*/package/**",
      "coverage/**",
      "reports/**",
      ".stryker-tmp/**"
    ]
  },
  ...tseslint.configs.recommended,
  ...effect.configs.dprint,
  {
    rules: {
      // Effect's own formatting settings, applied through dprint.
      "@effect/dprint": ["error", {
        config: {
          indentWidth: 2,
          lineWidth: 120,
          semiColons: "asi",
          quoteStyle: "alwaysDouble",
          trailingCommas: "never",
          operatorPosition: "maintain",
          "arrowFunction.useParentheses": "force"
        }
      }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-namespace": "off"
    }
  },
  {
    // The pure decision cores are shared unchanged by every Effect version breakwater targets: no Effect
    // there, not even a type (test/architecture.test.ts also keeps them free of any package and layer).
    files: ["src/core/**/*.ts"],
    rules: {
      "@typescript-eslint/no-restricted-imports": ["error", {
        patterns: [{
          group: ["effect", "effect/*", "@effect/*", "effect4", "effect4/*"],
          message: "src/core/ holds the pure decision cores: no Effect import (see README, \"Source layout\")."
        }]
      }]
    }
  }
)

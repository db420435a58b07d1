// Static checks run by `make lint` (part of `make test`); see the README's "Static and
// dependency checks". Type-checked rules from typescript-eslint plus security rule sets
// (@microsoft/eslint-plugin-sdl, eslint-plugin-security) on the code that ships or operates
// the mesh: mesh/, gateway/, services/ and scripts/, their tests included. gen/ is generated
// (never linted); test/, bench/, platform/ and deploy/ are outside this gate.
//
// Zero findings is the bar: a finding is fixed, or suppressed on its line with an
// `eslint-disable-next-line <rule> -- <why>` comment (reportUnusedDisableDirectives keeps the
// suppressions honest).
import { defineConfig } from "eslint/config";
import tseslint from "typescript-eslint";
import sdl from "@microsoft/eslint-plugin-sdl";
import security from "eslint-plugin-security";

const lintedFiles = ["mesh/**/*.ts", "gateway/**/*.ts", "services/**/*.ts", "scripts/**/*.ts"];
const testFiles = ["**/*.test.ts", "**/*.fixture.ts"];

// http: URLs that are not a plaintext connection off this machine: loopback listeners the mesh
// starts for development and its tools (make run, make load, make chaos), and XML namespace
// names (the rule's own defaults, which an option replaces). Anything else over http: is a
// finding. Never run this rule with --fix: its fixer rewrites http: to https:, which breaks
// namespace names and URLs of plaintext listeners.
const plaintextExceptions = [
  "^http:\\/\\/(127\\.0\\.0\\.1|localhost|\\[::1\\])(:|\\/|$)",
  "^http:\\/\\/www\\.w3\\.org\\/(1999\\/xhtml|2000\\/svg)",
];

export default defineConfig(
  { ignores: ["gen/**", "node_modules/**", "dist/**", "test-output/**"] },
  { linterOptions: { reportUnusedDisableDirectives: "error" } },
  {
    files: lintedFiles,
    extends: [
      tseslint.configs.recommendedTypeChecked,
      // sdl's "recommended" adds Angular, React and Electron rules; this tree is Node only.
      ...sdl.configs.common,
      ...sdl.configs.node,
      security.configs.recommended,
    ],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@microsoft/sdl/no-insecure-random": "error",
      "@microsoft/sdl/no-insecure-url": ["error", { exceptions: plaintextExceptions }],
      // The stores implement Promise-returning interfaces over synchronous SQLite: `async`
      // without `await` is what turns a synchronous throw into a rejection for their callers.
      "@typescript-eslint/require-await": "off",
      // Passing on a caught value or an abort reason unchanged is propagation; a made-up
      // non-Error (a string literal, an object) is still a finding.
      "@typescript-eslint/prefer-promise-reject-errors": ["error", { allowThrowingAny: true, allowThrowingUnknown: true }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      // A `let` read by a callback before its one assignment is late binding, not a missed
      // const: the services' mains hand the store a wake-up callback for the outbox relay,
      // which can only start once the store and the bus exist.
      "prefer-const": ["error", { ignoreReadBeforeAssign: true }],
      // Flags every computed member access (`obj[key]`): over a hundred hits here, all on typed
      // keys under noUncheckedIndexedAccess; it cannot tell a Map-like record from a prototype
      // write, so its findings carry no signal.
      "security/detect-object-injection": "off",
      // Flags every fs call whose path is not a literal: in this tree paths come from the
      // operator's configuration and the tools' own folders by design.
      "security/detect-non-literal-fs-filename": "off",
    },
  },
  {
    // Tests start servers on loopback and use addresses as data for parsers (10.x, collector
    // names): plaintext URLs there reach nothing off this machine.
    files: testFiles,
    rules: {
      "@microsoft/sdl/no-insecure-url": "off",
    },
  },
);

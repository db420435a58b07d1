// Feature flags through OpenFeature, from a file each process watches.
export { fileFeatureFlags, noFeatureFlags, type FeatureFlags, type FeatureFlagsOptions, type FlagContext } from "./feature-flags.js";

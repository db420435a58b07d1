#!/usr/bin/env bash
# Copies the third-party .proto files Meshwork compiles against from the npm
# packages that ship them into proto-deps/ (git-ignored). Nothing here is
# committed: the packages in package-lock.json are the source of truth.
set -euo pipefail
cd "$(dirname "$0")/.."
out=proto-deps
rm -rf "$out"
mkdir -p "$out/google/api" "$out/google/rpc" "$out/grpc/health/v1" \
  "$out/grpc/reflection/v1" "$out/grpc/reflection/v1alpha"
gpf=node_modules/google-proto-files/google
cp "$gpf/api/annotations.proto" "$gpf/api/http.proto" "$out/google/api/"
cp "$gpf/rpc/status.proto" "$gpf/rpc/error_details.proto" "$gpf/rpc/code.proto" "$out/google/rpc/"
cp node_modules/grpc-health-check/proto/health/v1/health.proto "$out/grpc/health/v1/"
refl=node_modules/@grpc/reflection/build/proto/grpc/reflection
cp "$refl/v1/reflection.proto" "$out/grpc/reflection/v1/"
cp "$refl/v1alpha/reflection.proto" "$out/grpc/reflection/v1alpha/"

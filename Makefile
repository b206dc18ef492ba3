# `sam build` builds each function through this file (template.yaml: Metadata BuildMethod: makefile,
# CodeUri: ./): SAM runs `make build-<LogicalId>` with ARTIFACTS_DIR set to the function's artifact
# folder. Every target is the same build as `npm run build` and the bench measure (scripts/build.mjs:
# ESM, minified, source maps, the AWS SDK bundled, the Lambda credentials module instead of the
# SDK's default chain), written flat as $(ARTIFACTS_DIR)/<name>.mjs (Handler: <name>.handler).
# Needs `npm ci` first (esbuild is a devDependency). test/unit/build.test.ts checks that each
# function of the template has its target here and that a target builds its handler.

BUILD = node scripts/build.mjs --flat --outdir "$(ARTIFACTS_DIR)" --only

build-TriggerFunction:
	$(BUILD) trigger

build-SweepFunction:
	$(BUILD) sweep

build-InspectFunction:
	$(BUILD) inspect

build-WrapAndImportFunction:
	$(BUILD) wrap-and-import

build-VerifyFunction:
	$(BUILD) verify

build-RotateFunction:
	$(BUILD) rotate

build-ReportFunction:
	$(BUILD) report

.PHONY: build-TriggerFunction build-SweepFunction build-InspectFunction build-WrapAndImportFunction build-VerifyFunction build-RotateFunction build-ReportFunction

#!/usr/bin/env bash
# The seed's way (seeds/004: the forum answer that brought a PendingImport key back by hand), as a
# script, for the bench to time beside `kms-reimport recover`:
#   new import parameters (get-parameters-for-import), the public key and token base64-decoded,
#   the material wrapped with openssl (RSA-OAEP, SHA-1, under the DER public key), then
#   import-key-material with KEY_MATERIAL_EXPIRES and a ValidTo.
# The seed used `openssl rsautl -oaep`, which OpenSSL 3 deprecates; `pkeyutl` with OAEP padding is
# the same operation (OAEP with SHA-1 and MGF1-SHA-1). It checks nothing before or after, as the
# seed did not.
#
# Usage: bench/seed-recover.sh <key-id> <PlaintextKeyMaterial.bin> <work-dir>
# The AWS CLI follows AWS_ENDPOINT_URL / AWS_REGION / credentials from the environment; AWS_CLI
# names the command (default: aws).
set -euo pipefail
key_id="$1"
material="$2"
work="$3"
aws_cli="${AWS_CLI:-aws}"
cd "$work"

trap 'rm -f PublicKey.bin ImportToken.bin EncryptedKeyMaterial.bin' EXIT

# Download new ImportParameters
read -r public_key import_token < <("$aws_cli" kms get-parameters-for-import --key-id "$key_id" \
  --wrapping-algorithm RSAES_OAEP_SHA_1 --wrapping-key-spec RSA_2048 \
  --query '[PublicKey, ImportToken]' --output text)
# Convert the base64 PublicKey and ImportToken to binary
printf '%s' "$public_key" | base64 -d > PublicKey.bin
printf '%s' "$import_token" | base64 -d > ImportToken.bin
# Encrypt the key material with openssl
openssl pkeyutl -encrypt -pubin -keyform DER -inkey PublicKey.bin -pkeyopt rsa_padding_mode:oaep \
  -in "$material" -out EncryptedKeyMaterial.bin
# Import the encrypted key material back into the key
"$aws_cli" kms import-key-material --key-id "$key_id" \
  --encrypted-key-material fileb://EncryptedKeyMaterial.bin --import-token fileb://ImportToken.bin \
  --expiration-model KEY_MATERIAL_EXPIRES --valid-to "$(date -u -d '+90 days' +%Y-%m-%dT%H:%M:%SZ)" > /dev/null
# (the trap above removes them)

#!/usr/bin/env bash
# Convert the Noisy Student EfficientNet-B7 TensorFlow checkpoint to an efficientnet-pytorch state dict.
#   bash convert_tf_to_pt.sh    (needs TensorFlow: pip install tensorflow-cpu)
# Reads external_data/noisy_student_efficientnet-b7.tar.gz, writes external_data/noisy_student_efficientnet-b7.pth,
# removes what it unpacked.
set -euo pipefail
cd "$(dirname "$0")"
ARCHIVE=external_data/noisy_student_efficientnet-b7.tar.gz
OUTPUT=external_data/noisy_student_efficientnet-b7.pth
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
[ -f "$ARCHIVE" ] || { echo "error: $ARCHIVE not found; see external_data/README.md" >&2; exit 2; }
WORK=$(mktemp -d external_data/.unpack-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
tar -xzf "$ARCHIVE" -C "$WORK"
"$PYTHON" -m efficientnet.convert tf --checkpoint "$WORK/noisy-student-efficientnet-b7" --output "$OUTPUT"

#!/usr/bin/env bash
# Regenerate the certificate fonts (fixtures/fonts/DejaVuSans*-Latin.ttf) from
# the full DejaVu Sans faces beside them: the characters Spanish and other
# Western European text needs, without TrueType hinting, keeping only the
# kerning feature. krilla subsets the font of every certificate it renders;
# starting from ~60 KB instead of ~750 KB makes that, the text shaping and the
# compression of the embedded subset several times cheaper (docs/BENCHMARKS.md).
# Characters outside these ranges are drawn as '?' (src/certificate/layout.rs);
# the certificate's embedded data keeps them.
# Needs fontTools (`pip install fonttools`); the output is committed, so
# neither the build nor the daemon needs it.
set -euo pipefail
cd "$(dirname "$0")/../fixtures/fonts"
python3 -c 'import fontTools' 2>/dev/null || pip install --quiet fonttools
ranges="U+0020-007E,U+00A0-017F,U+0192,U+02C6-02DC,U+2010-2027,U+2030-203A,U+2044,U+20AC,U+2116,U+2122,U+2212,U+FFFD"
for face in DejaVuSans DejaVuSans-Bold; do
    pyftsubset "$face.ttf" --unicodes="$ranges" --no-hinting --layout-features=kern \
        --name-IDs='*' --name-legacy --name-languages='*' --notdef-outline \
        --output-file="$face-Latin.ttf"
done
ls -l ./*-Latin.ttf

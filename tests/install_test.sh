#!/bin/sh
# Installs the build tree into a scratch prefix and builds a tiny program
# against it with pkg-config alone, then runs it.
set -eu
build=$1 src=$2 cc=$3
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
cat > "$prefix/app.c" <<'APP'
#include <convbp.h>
#include <stdio.h>
#include <string.h>
int main(void) {
  /* the header installed and the library installed are one version */
  if (strcmp(convbp_version(), CONVBP_VERSION) != 0) {
    printf("header %s, library %s\n", CONVBP_VERSION, convbp_version());
    return 1;
  }
  printf("convbp %s\n", convbp_version());
  convbp_conv p = {1, 2, 5, 5, 3, 3, 3, 1, 1, 2, 2, 1, 1};
  convbp_check res;
  int st = convbp_conv_check("bpa_direct", &p, 1, 1, &res);
  printf("%d strategies; bpa_direct: %s, passed=%d\n", convbp_strategy_count(),
         convbp_strerror(st), res.passed);
  return st == 0 && res.passed ? 0 : 1;
}
APP
# The .pc file must carry every dependency; the sanitizer runtime is the build's own business.
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
extra=""
case "${CONVBP_SANITIZE_FLAGS:-}" in ?*) extra=$CONVBP_SANITIZE_FLAGS ;; esac
$cc $extra "$prefix/app.c" -o "$prefix/app" $(pkg-config --cflags --libs --static convbp)
"$prefix/app" > "$prefix/out"
cat "$prefix/out"
# ... and the .pc file says the same version
pcv=$(pkg-config --modversion convbp)
if [ "$(head -n 1 "$prefix/out")" != "convbp $pcv" ]; then
  echo "pkg-config says $pcv, the library $(head -n 1 "$prefix/out")"
  exit 1
fi
echo "1 passed, 0 failed"

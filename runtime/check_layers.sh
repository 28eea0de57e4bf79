#!/bin/sh
# Checks that a runtime/ folder includes only headers of the folders below it (the order in
# runtime/meson.build) and that backend.h is not included below model/. Prints each wrong-way
# include and exits 1 if there is one.
cd "$(dirname "$0")" || exit 2
rank() {
    case "$1" in
        base) echo 0 ;; format) echo 1 ;; text) echo 2 ;; model) echo 3 ;; convert) echo 4 ;;
        *) echo 9 ;;
    esac
}
bad=0
for dir in base format text model convert; do
    r=$(rank "$dir")
    for f in "$dir"/*.c "$dir"/*.h; do
        [ -e "$f" ] || continue
        grep -n '^#include "' "$f" | while IFS= read -r line; do
            inc=$(printf '%s\n' "$line" | sed 's/.*#include "\([^"]*\)".*/\1/')
            case "$inc" in
                */*) to=$(rank "${inc%%/*}") ;;
                dfrt.h | ops.h) continue ;;      # the public declarations
                backend.h) to=3 ;;               # the backend interface: model/ and above
                *) to=9 ;;                       # anything else is not a layer's header
            esac
            if [ "$to" -gt "$r" ]; then echo "$f:$line: wrong-way include"; fi
        done
    done
done | grep . && bad=1
# The root (ops.c, backend.c, backend.h) uses only base/ and format/.
if grep -n '^#include "\(text\|model\|convert\)/' ./*.c ./*.h; then bad=1; fi
exit $bad

#!/bin/sh
# A catalogue is complete when every string marked in today's sources has a translation:
# extract the strings afresh (meson's glib preset keywords), merge the .po onto them and
# require msgfmt to count no untranslated or fuzzy message.
set -eu
srcroot=$1 podir=$2 lang=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
grep -v '^#' "$podir/POTFILES.in" | sed "s|^|$srcroot/|" >"$tmp/files"
xgettext --from-code=UTF-8 --keyword=_ --keyword=N_ --keyword=C_:1c,2 --keyword=NC_:1c,2 \
        --keyword=g_dngettext:2,3 --add-comments --files-from="$tmp/files" -o "$tmp/new.pot"
msgmerge --quiet --no-fuzzy-matching "$podir/$lang.po" "$tmp/new.pot" -o "$tmp/merged.po"
stats=$(msgfmt --check --statistics -o /dev/null "$tmp/merged.po" 2>&1)
echo "$podir/$lang.po: $stats"
case "$stats" in
*untranslated*|*fuzzy*) exit 1 ;;
esac

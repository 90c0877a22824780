#!/bin/sh
# Renders a man page with every groff warning enabled; any warning fails the test.
set -eu
page=$1
warnings=$(groff -ww -man -z "$page" 2>&1) || { echo "groff failed on $page"; exit 1; }
if [ -n "$warnings" ]; then
        printf '%s: groff warnings:\n%s\n' "$page" "$warnings"
        exit 1
fi
echo "$page: rendered without warnings"

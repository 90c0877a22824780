#!/bin/sh
# --fsfreeze-hook of the test guest: records each call; fails a freeze on request.
echo "$1" >>/run/hook.log
[ "$1" = freeze ] && [ -e /run/hook-fail ] && exit 3
exit 0

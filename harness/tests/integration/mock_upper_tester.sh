#!/usr/bin/env bash
# A cloud upper tester for the standalone mock, as a lab writes one for its cloud:
# `--cloud-upper-tester 'bash mock_upper_tester.sh PORT'`. It reads the action
# ({"action":"fetch_log","sn":"...","hint":"..."}) on stdin and performs it through the
# mock's control plane (ws://127.0.0.1:PORT/_hwconform/control, with the token in
# HWCONFORM_CONTROL_TOKEN), as a corp admin or a person would act on a real cloud's console.
# Exit 0: done (or yes); 3: no (the cloud does not show what was asked); other: could not.
set -eu
port=$1
action=$(cat)
field() { printf '%s' "$action" | sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
name=$(field action)
case "$name" in
  bind | unbind | remote_open_door | fetch_log) op=$name ;;
  scan_qr) op=scan_login_qr ;;
  remote_open_failed) op=recorded ;;
  *) echo "unknown action $name" >&2; exit 2 ;;
esac
request=$(printf '%s' "$action" | sed "s/\"action\":\"$name\"/\"op\":\"$op\"/")
# One text frame, masked with a zero key (the payload goes as it is).
len=${#request}
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /_hwconform/control HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n' \
  "$port" "$HWCONFORM_CONTROL_TOKEN" >&3
# The frame goes after the server's answer to the upgrade, never in the same packet.
IFS= read -r -t 5 status <&3 || { echo "no answer to the upgrade" >&2; exit 1; }
case "$status" in *' 101 '*) ;; *) echo "the control plane refused the upgrade: $status" >&2; exit 1 ;; esac
while IFS= read -r -t 5 line <&3 && [ "$line" != $'\r' ]; do :; done
if [ "$len" -lt 126 ]; then
  printf "\\x81\\x$(printf %02x $((len | 128)))\\x00\\x00\\x00\\x00" >&3
else
  printf "\\x81\\xfe\\x$(printf %02x $((len >> 8)))\\x$(printf %02x $((len & 255)))\\x00\\x00\\x00\\x00" >&3
fi
printf '%s' "$request" >&3
answer=$(timeout 1 cat <&3 | tr -d '\000' || true)
exec 3>&-
case "$answer" in
  *'"ok":true'*) ;;
  *) echo "the control plane refused $name: $answer" >&2; exit 1 ;;
esac
echo "$name done"
if [ "$name" = remote_open_failed ]; then
  oper_id=$(field oper_id)
  result=$(printf '%s' "$answer" | tr '{' '\n' | grep "\"oper_id\":\"$oper_id\"" | sed -n 's/.*"result":"\([^"]*\)".*/\1/p')
  echo "the cloud shows remote open $oper_id as ${result:-nothing}"
  case "$result" in failed | late) exit 0 ;; *) exit 3 ;; esac
fi

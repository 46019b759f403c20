#!/usr/bin/env bash
# Side-by-side SFTP benchmark: Pasarela's server vs OpenSSH sshd + internal-sftp,
# both on loopback, same OpenSSH `sftp` client, same cipher, same tmpfs.
#
#   scripts/bench-sftp.sh            # 1 GiB up/down x3 rounds + 100 sessions x 20 files
#   SIZE_MB=256 ROUNDS=2 CIPHER=chacha20-poly1305@openssh.com scripts/bench-sftp.sh
#   DAEMON=1 scripts/bench-sftp.sh   # serve with `pasarela run` (the whole pipeline) and only
#                                    # run the many-sessions part, counting results in outgoing/
#
# Needs: openssh-server (/usr/sbin/sshd) and openssh-client; run as root (sshd
# logs in as the current user with the demo fixture key). Never touches
# anything outside BENCH_DIR and 127.0.0.1.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
SIZE_MB=${SIZE_MB:-1024}
ROUNDS=${ROUNDS:-3}
CIPHER=${CIPHER:-aes128-gcm@openssh.com}
SESSIONS=${SESSIONS:-100}
FILES=${FILES:-20}
SMALL_KB=${SMALL_KB:-64}
BENCH_DIR=${BENCH_DIR:-/dev/shm/pasarela-bench}
PORT_OURS=${PORT_OURS:-22220}
PORT_SSHD=${PORT_SSHD:-22221}
USER_NAME=$(id -un)

rm -rf "$BENCH_DIR"
mkdir -p "$BENCH_DIR"/{sshd,ours,local}
cd "$BENCH_DIR"
cp "$REPO/fixtures/keys/demo_ed25519" key && chmod 600 key

echo "== building (release)" >&2
DAEMON=${DAEMON:-0}
if [ "$DAEMON" = 1 ]; then
  (cd "$REPO" && cargo build --release --bin pasarela >&2)
  BIN="$REPO/target/release/pasarela"
else
  # The bench target benches/sftp_serve.rs (bench profile = release); cargo
  # names its executable as "Executable benches/sftp_serve.rs (PATH)".
  BIN=$(cd "$REPO" && cargo bench --bench sftp_serve --no-run 2>&1 |
    sed -n 's/.*Executable .*(\(.*sftp_serve-[0-9a-f]*\)).*/\1/p' | tail -1)
  case "$BIN" in /*) ;; *) BIN="$REPO/$BIN" ;; esac
fi

# --- OpenSSH sshd with internal-sftp -------------------------------------
ssh-keygen -q -t ed25519 -N "" -f sshd/host_key
cp "$REPO/fixtures/keys/demo_ed25519.pub" sshd/authorized_keys
chmod 600 sshd/authorized_keys
mkdir -p /run/sshd
cat > sshd/sshd_config <<CFG
Port $PORT_SSHD
ListenAddress 127.0.0.1
HostKey $BENCH_DIR/sshd/host_key
PidFile $BENCH_DIR/sshd/sshd.pid
AuthorizedKeysFile $BENCH_DIR/sshd/authorized_keys
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
MaxStartups 300:30:400
MaxSessions 100
Subsystem sftp internal-sftp
ForceCommand internal-sftp
AllowTcpForwarding no
X11Forwarding no
CFG
/usr/sbin/sshd -f "$BENCH_DIR/sshd/sshd_config" -E "$BENCH_DIR/sshd/sshd.log" -D &
SSHD_PID=$!

# --- Pasarela ---------------------------------------------------------------
mkdir -p ours/home/demo/{incoming,outgoing,archive}
cat > ours/pasarela.toml <<CFG
[daemon]
state_dir = "$BENCH_DIR/ours/var"
[store]
url = "sqlite://$BENCH_DIR/ours/var/pasarela.db"
synchronous = "normal"
[sftp]
listen = "127.0.0.1:$PORT_OURS"
max_connections_per_ip = 400
max_unauthenticated = 400
[accounts.demo]
home = "$BENCH_DIR/ours/home/demo"
[accounts.demo.sftp]
authorized_keys = ["$REPO/fixtures/keys/demo_ed25519.pub"]
[[routes]]
name = "all"
steps = ["classify"]
CFG
if [ "$DAEMON" = 1 ]; then
  (cd ours && exec "$BIN" run --config pasarela.toml > stdout.log 2> stderr.log) &
else
  PASARELA_SFTP_SERVE=ours/pasarela.toml "$BIN" > ours/stdout.log 2> ours/stderr.log &
fi
OURS_PID=$!
cleanup() {
  kill "$OURS_PID" "$SSHD_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  [ "${KEEP:-0}" = 1 ] || rm -rf "$BENCH_DIR"
}
trap cleanup EXIT
for _ in $(seq 100); do
  grep -q 'listening' ours/stdout.log ours/stderr.log 2>/dev/null && (echo > "/dev/tcp/127.0.0.1/$PORT_SSHD") 2>/dev/null && break
  sleep 0.1
done

SFTP=(sftp -q -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes
      -o IdentitiesOnly=yes -o IdentityAgent=none -o LogLevel=ERROR -c "$CIPHER" -i "$BENCH_DIR/key")

# run_batch ours|sshd "commands" -> seconds
run_batch() {
  local which=$1 cmds=$2 port user
  if [ "$which" = ours ]; then port=$PORT_OURS user=demo; else port=$PORT_SSHD user=$USER_NAME; fi
  local t0 t1
  t0=$(date +%s.%N)
  printf '%s\n' "$cmds" | "${SFTP[@]}" -P "$port" -b - "$user@127.0.0.1" > /dev/null
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}
up_dst() { if [ "$1" = ours ]; then echo /incoming/up.bin; else echo "$BENCH_DIR/sshd/up.bin"; fi; }
down_src() { if [ "$1" = ours ]; then echo /outgoing/down.bin; else echo "$BENCH_DIR/sshd/down.bin"; fi; }
cleanup_up() { rm -f "$BENCH_DIR/ours/home/demo/incoming/up.bin" "$BENCH_DIR/sshd/up.bin" "$BENCH_DIR/local/dl.bin"; }

if [ "$DAEMON" = 1 ]; then ROUNDS=0; SIZE_MB=1; fi
echo "== creating a ${SIZE_MB} MiB file" >&2
head -c "${SIZE_MB}M" /dev/urandom > local/src.bin
cp local/src.bin ours/home/demo/outgoing/down.bin
cp local/src.bin sshd/down.bin

declare -A SUM
for k in ours_up sshd_up ours_down sshd_down; do SUM[$k]=0; done
mbps() { echo "$SIZE_MB / $1" | bc -l; }

echo "== warm-up" >&2
[ "$DAEMON" = 1 ] || for w in ours sshd; do
  run_batch "$w" "put local/src.bin $(up_dst $w)" > /dev/null
  run_batch "$w" "get $(down_src $w) local/dl.bin" > /dev/null
  cleanup_up
done

for r in $(seq "$ROUNDS"); do
  for w in ours sshd; do
    t=$(run_batch "$w" "put local/src.bin $(up_dst $w)")
    U=$(mbps "$t")
    cmp -s local/src.bin "$( [ $w = ours ] && echo ours/home/demo/incoming/up.bin || echo sshd/up.bin)" || { echo "upload to $w corrupted" >&2; exit 1; }
    SUM[${w}_up]=$(echo "${SUM[${w}_up]} + $U" | bc -l)
    t=$(run_batch "$w" "get $(down_src $w) local/dl.bin")
    cmp -s local/src.bin local/dl.bin || { echo "download from $w corrupted" >&2; exit 1; }
    D=$(mbps "$t")
    SUM[${w}_down]=$(echo "${SUM[${w}_down]} + $D" | bc -l)
    printf 'round %s %-5s up %7.1f MiB/s  down %7.1f MiB/s\n' "$r" "$w" "$U" "$D" >&2
    cleanup_up
  done
done

avg() { if [ "$ROUNDS" = 0 ]; then echo 0; else echo "${SUM[$1]} / $ROUNDS" | bc -l; fi; }
OU=$(avg ours_up); SU=$(avg sshd_up); OD=$(avg ours_down); SD=$(avg sshd_down)

# --- many sessions ------------------------------------------------------------
echo "== $SESSIONS sessions x $FILES files of ${SMALL_KB} KiB" >&2
mkdir -p local/small
for i in $(seq "$FILES"); do head -c "${SMALL_KB}K" /dev/urandom > "local/small/f$i.xml"; done
many() {
  local which=$1 dst
  local t0 t1 fails=0 pids=()
  t0=$(date +%s.%N)
  for s in $(seq "$SESSIONS"); do
    if [ "$which" = ours ]; then dst=/incoming; else dst="$BENCH_DIR/sshd/many"; mkdir -p "$dst"; fi
    cmds=""
    for i in $(seq "$FILES"); do cmds+="put local/small/f$i.xml $dst/s${s}-f$i.xml"$'\n'; done
    ( if [ "$which" = ours ]; then p=$PORT_OURS u=demo; else p=$PORT_SSHD u=$USER_NAME; fi
      printf '%s' "$cmds" | "${SFTP[@]}" -P "$p" -b - "$u@127.0.0.1" > /dev/null 2>> "local/many-$which.err" ) &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
  t1=$(date +%s.%N)
  echo "$(echo "$t1 - $t0" | bc -l) $fails"
}
read -r OM OMF < <(many ours)
if [ "$DAEMON" = 1 ]; then
  # Processed = a result written to outgoing/ for every upload.
  for _ in $(seq 600); do
    OMN=$(find ours/home/demo/outgoing -maxdepth 1 -name 's*-f*.xml.result.json' | wc -l)
    [ "$OMN" -ge $((SESSIONS * FILES)) ] && break
    sleep 0.5
  done
  OEV="$OMN results"
else
  OMN=$(find ours/home/demo/incoming -maxdepth 1 -name 's*-f*.xml' | wc -l)
fi
sleep 1
[ "$DAEMON" = 1 ] || OEV=$( (grep -o 'intake events: [0-9]*' ours/stderr.log || true) | tail -1 | awk '{print $3}')
read -r SM SMF < <(many sshd)
SMN=$(find sshd/many -maxdepth 1 -name 's*-f*.xml' | wc -l)

if [ "$DAEMON" = 1 ]; then
cat <<OUT

| pasarela run (whole pipeline) vs OpenSSH internal-sftp | pasarela | OpenSSH internal-sftp |
|---|---|---|
| $SESSIONS sessions x $FILES files: seconds to upload | $(printf %.1f "$OM") | $(printf %.1f "$SM") |
| failed sessions | $OMF | $SMF |
| files processed (result in outgoing/) / landed | $OMN of $((SESSIONS * FILES)) | $SMN of $((SESSIONS * FILES)) landed |
OUT
exit 0
fi
cat <<OUT

| ${SIZE_MB} MiB, cipher $CIPHER, mean of $ROUNDS rounds | pasarela | OpenSSH internal-sftp | ratio |
|---|---|---|---|
| upload (MiB/s)   | $(printf %.0f "$OU") | $(printf %.0f "$SU") | $(printf %.2f "$(echo "$OU / $SU" | bc -l)") |
| download (MiB/s) | $(printf %.0f "$OD") | $(printf %.0f "$SD") | $(printf %.2f "$(echo "$OD / $SD" | bc -l)") |
| $SESSIONS sessions x $FILES files: seconds | $(printf %.1f "$OM") | $(printf %.1f "$SM") | |
| files landed (of $((SESSIONS * FILES))) | $OMN | $SMN | |
| failed sessions | $OMF | $SMF | |
| intake events (incl. ${ROUNDS} + 1 big uploads) | ${OEV:-0} | n/a | |
OUT

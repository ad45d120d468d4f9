# The st2 kit (../shared/st2-rig, or $ST2_KIT) for scripts/acceptance and scripts/demo.
# Source it with KIT_NAME (the messages' prefix) and RIG (where the kit is built) set, as root:
#   kit_build [wheelhouse.sh args]   build the kit into $RIG; fetch the wheels the pack needs
#   kit_run SSH_USER CMD [ARGS...]   run CMD on the started kit, then stop it; CMD's exit status
# kit_run starts the kit in network and mount namespaces of its own: its fixed ports never meet
# another kit's, and the /usr/local/bin there is a private layer over the host's, so the target
# shims CMD installs never reach the host (nor another run). The SSH target user, its sudoers
# file and the kit's key in its authorized_keys are removed again when this run added them.

kit_die() { echo "$KIT_NAME: $*" >&2; exit 2; }

kit_build() {
  local kit="${ST2_KIT:-../shared/st2-rig}" log
  [ -x "$kit/build.sh" ] || kit_die "the st2 kit is not at $kit: put shared/ beside the repository, set ST2_KIT, or point ST2_API_URL at a st2"
  command -v unshare >/dev/null || kit_die "unshare (util-linux) is needed to give the kit its own namespaces"
  export RIG
  mkdir -p "$(dirname "$RIG")"
  log="$(mktemp "${TMPDIR:-/tmp}/poundcake-$KIT_NAME-build.XXXXXX")"
  echo "$KIT_NAME: building the st2 kit into $RIG"
  local sources="${ST2_SOURCES:-SOURCES}"
  [ -f "$kit/src/$sources" ] || kit_die "ST2_SOURCES=$sources: no such list in $kit/src ($(cd "$kit/src" && echo SOURCES*))"
  echo "$KIT_NAME: st2 from $sources"
  if ! RIG="$RIG" ST2_SOURCES="$sources" START=0 EXTRA_APT="iproute2" "$kit/build.sh" >"$log" 2>&1; then
    tail -40 "$log" >&2
    kit_die "building the st2 kit failed (log: $log)"
  fi
  rm -f "$log"
  # The namespace has no network: the pack's virtualenv, and those up.sh makes for the kit's
  # own packs (st2 v3.9.0's linux pack needs pyinotify), install from wheels fetched now.
  local req wheels=("$@")
  for req in "$RIG"/opt/packs/*/requirements.txt; do [ -f "$req" ] && wheels+=(-r "$req"); done
  "$RIG/wheelhouse.sh" "${wheels[@]}" >/dev/null
}

kit_run() {
  unshare -m -n bash -c '
    set -euo pipefail
    name="$1" user="$2"; shift 2
    ip link set lo up
    export PIP_NO_INDEX=1
    layer="$(mktemp -d "${TMPDIR:-/tmp}/poundcake-$name-bin.XXXXXX")"
    mkdir "$layer/upper" "$layer/work"
    mount -t overlay overlay -o "lowerdir=/usr/local/bin,upperdir=$layer/upper,workdir=$layer/work" /usr/local/bin
    had_user=""; id -u "$user" >/dev/null 2>&1 && had_user=1
    sudoers="/etc/sudoers.d/st2-rig-$user"; had_sudoers=""; [ -e "$sudoers" ] && had_sudoers=1
    had_run_sshd=""; [ -d /run/sshd ] && had_run_sshd=1
    key="$(cat "$RIG/ssh/id_rsa.pub")" keys="" had_key=""
    if [ -n "$had_user" ]; then
      keys="$(getent passwd "$user" | cut -d: -f6)/.ssh/authorized_keys"
      [ -f "$keys" ] && grep -qxF "$key" "$keys" && had_key=1
    fi
    restore() {
      "$RIG/rig.sh" down >/dev/null 2>&1 || true
      # whatever still runs in this namespace was started by this run (a daemon CMD left)
      local ns p
      ns="$(readlink /proc/$$/ns/net)"
      for p in /proc/[0-9]*; do
        [ "${p#/proc/}" != "$$" ] && [ "$(readlink "$p/ns/net" 2>/dev/null)" = "$ns" ] || continue
        echo "$name: stopping pid ${p#/proc/}, left running: $(tr "\0" " " <"$p/cmdline" 2>/dev/null)" >&2
        kill "${p#/proc/}" 2>/dev/null || true
      done
      if [ -z "$had_user" ]; then
        userdel -r "$user" >/dev/null 2>&1 || echo "$name: could not remove user $user" >&2
      elif [ -z "$had_key" ] && [ -f "$keys" ]; then
        grep -vxF "$key" "$keys" >"$keys.tmp" || true
        cat "$keys.tmp" >"$keys"; rm -f "$keys.tmp"
      fi
      [ -n "$had_sudoers" ] || rm -f "$sudoers"
      [ -n "$had_run_sshd" ] || rmdir /run/sshd 2>/dev/null || true
      umount /usr/local/bin && rm -rf "$layer"
    }
    trap restore EXIT
    echo "$name: starting the st2 kit in namespaces of its own"
    if ! "$RIG/up.sh" >"$RIG/logs/$name-up.log" 2>&1; then
      tail -40 "$RIG/logs/$name-up.log" >&2; echo "$name: the st2 kit did not start" >&2; exit 1
    fi
    if ! "$RIG/ssh-target.sh" "$user" >"$RIG/logs/$name-ssh.log" 2>&1; then
      cat "$RIG/logs/$name-ssh.log" >&2; echo "$name: the SSH target did not start" >&2; exit 1
    fi
    . "$RIG/cli-env.sh"
    "$@"
  ' kit "$KIT_NAME" "$@"
}

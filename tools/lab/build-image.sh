#!/usr/bin/env bash
# Build one systemd base image for the lab with debootstrap + `podman import` (no image registry).
#
#   tools/lab/build-image.sh SUITE IMAGE      e.g. tools/lab/build-image.sh trixie localhost/imip-debian:trixie-<hash>
#
# `tools/lab/lab images` runs it: the image's tag ends in a hash of this file, so a changed recipe
# is a new image everywhere (a developer's machine and CI), never a stale one.
#
# The Debian mirror is read from this host's apt sources; IMIP_LAB_DEBIAN_MIRROR overrides it
# (and IMIP_LAB_DEBIAN_SECURITY_MIRROR the security archive). The host's extra CA certificates
# (/usr/local/share/ca-certificates) are trusted inside the image, so TLS-intercepting proxies work.
set -euo pipefail

suite=${1:?usage: build-image.sh SUITE IMAGE}
image=${2:?usage: build-image.sh SUITE IMAGE}
here=$(cd "$(dirname "$0")" && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/containers.conf}

die() { echo "build-image: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (debootstrap and rootful podman)"
command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install debootstrap"
command -v podman >/dev/null || die "podman is missing: apt-get install podman runc"

# All URIs of the host's apt sources, one-line (sources.list) and deb822 (*.sources) formats.
host_uris() {
  {
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }'
    cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }'
  } | sed 's:/*$::'
}
mirror=${IMIP_LAB_DEBIAN_MIRROR:-$(host_uris | grep -E '/debian$' | head -n1 || true)}
security=${IMIP_LAB_DEBIAN_SECURITY_MIRROR:-$(host_uris | grep -E '/debian-security$' | head -n1 || true)}
[ -n "$mirror" ] || die "no Debian mirror found in /etc/apt/sources.list*; set IMIP_LAB_DEBIAN_MIRROR=http://<mirror>/debian"

work=$(mktemp -d /var/tmp/imip-lab-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs

echo "build-image: debootstrap $suite from $mirror"
debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,dbus,python3,python3-apt,iproute2,procps,openssh-server,ca-certificates,iputils-ping,sudo,passwd \
  "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap $suite failed"; }

# Package sources: main, updates, security (when the host knows a security archive).
{
  echo "deb $mirror $suite main"
  echo "deb $mirror $suite-updates main"
  [ -n "$security" ] && echo "deb $security $suite-security main"
} >"$root/etc/apt/sources.list"
# Lab hosts install only what roles ask for: roles must name every package they need.
echo 'APT::Install-Recommends "false";' >"$root/etc/apt/apt.conf.d/90imip-lab-no-recommends"
# As minimal cloud and container images do: no manuals, documentation or translations, and no
# man-db index rebuilt after every install. A `make test` is CPU-bound on 2 cores, and package
# installs in every scenario's hosts are a large part of it; nothing the roles configure is there.
cat >"$root/etc/dpkg/dpkg.cfg.d/90imip-lab-nodoc" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
DPKG
echo 'man-db man-db/auto-update boolean false' | chroot "$root" debconf-set-selections
rm -f "$root/var/lib/man-db/auto-update"

# Trust the build host's extra CAs (e.g. a proxy's) inside the lab, for apt and pip alike.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
fi
chroot "$root" update-ca-certificates >/dev/null
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$root/etc/pip.conf"

# Every container must get its own SSH host keys (they are pinned per lab), so drop the ones
# debootstrap made and generate them at first boot.
rm -f "$root"/etc/ssh/ssh_host_*
cat >"$root/etc/systemd/system/imip-lab-ssh-hostkeys.service" <<'UNIT'
[Unit]
Description=Generate SSH host keys on first boot (imip lab image)
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/imip-lab-ssh-hostkeys.service "$root/etc/systemd/system/multi-user.target.wants/"

# Ansible logs in as an ordinary account and becomes root with sudo, as on real hosts (root has
# no SSH key). No password: "*" cannot log in with one, and sudo asks for none, as cloud images do.
chroot "$root" useradd --create-home --shell /bin/bash --groups sudo --password '*' ansible
install -d -m 0700 -o "$(chroot "$root" id -u ansible)" -g "$(chroot "$root" id -g ansible)" "$root/home/ansible/.ssh"
printf 'ansible ALL=(ALL:ALL) NOPASSWD: ALL\n' >"$root/etc/sudoers.d/imip-lab-ansible"
chmod 0440 "$root/etc/sudoers.d/imip-lab-ansible"
chroot "$root" visudo -cq -f /etc/sudoers.d/imip-lab-ansible || die "sudoers entry does not parse"

# This machine's cgroup v1 "hybrid" layout: systemd inside a container gets no cgroup-empty
# notification (podman hides the release agent), so stopping a service whose processes outlive
# its main process (Dovecot with protocols, at every restart dpkg asks for) waits the whole stop
# timeout: 90 s per Dovecot install, measured (docs/benchmarks.md). Every service here stops in
# well under a second when it can; 10 s still leaves room for a slow one.
mkdir -p "$root/etc/systemd/system.conf.d"
printf '[Manager]\nDefaultTimeoutStopSec=10s\n' >"$root/etc/systemd/system.conf.d/90-imip-lab.conf"

# A container gets its identity at boot: empty machine-id, no fixed host name.
: >"$root/etc/machine-id"
rm -f "$root/etc/hostname" "$root/var/lib/dbus/machine-id"
# Units that make no sense in a container and only slow boot or fail.
for unit in systemd-networkd-wait-online.service getty@tty1.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
# Keep /var/lib/apt/lists: with empty lists, `apt: cache_valid_time` skips the update.
rm -rf "$root"/var/cache/apt/archives/*.deb

echo "build-image: importing $image"
tar -C "$root" -c . | podman import --change 'CMD ["/sbin/init"]' --change "LABEL imip.lab.image=$suite" - "$image" >/dev/null
echo "build-image: $image ready ($(podman image inspect --format '{{.Size}}' "$image") bytes)"

#!/bin/sh
# What tools/lab/create.yml does inside each lab container once podman has started it: the parts
# no containers.podman module can do. Run as root inside the container (its own network namespace,
# CAP_NET_ADMIN), the script as sh's argument (not on stdin, which a command could read):
#
#     podman exec -e IMIP_LAB_USER=... CONTAINER sh -c "$(cat tools/lab/guest.sh)"
#
# Environment: IMIP_LAB_USER (the account Ansible logs in as), IMIP_LAB_KEY (its authorized key),
# IMIP_LAB_ROUTES ("TO VIA" pairs, comma-separated), IMIP_LAB_UPLINK_VIA (a router's only default
# route; empty for other hosts), IMIP_LAB_RESOLVERS (space-separated; empty: podman's file stays).
# Prints "changed: ..." for each thing it changed and, last, "hostkey: TYPE KEY".
set -eu
changed() { echo "changed: $*"; }
# wait_for SECONDS WHAT COMMAND...: run COMMAND every half second until it succeeds; after SECONDS,
# fail saying WHAT did not happen (expanded then, so it can name the last state seen).
wait_for() {
    limit=$(($1 * 2)) what=$2 tries=0
    shift 2
    until "$@"; do
        tries=$((tries + 1))
        if [ "$tries" -ge "$limit" ]; then
            eval "echo \"$what\"" >&2
            exit 1
        fi
        sleep 0.5
    done
}

# systemd must have booted before ssh.service can be started.
booted() {
    state=$(systemctl is-system-running 2>/dev/null || true)
    case $state in running | degraded) return 0 ;; esac
    return 1
}
wait_for 90 'systemd did not finish booting in 90s (state: ${state:-unknown})' booted

# Extra routes (imip_lab_routes).
old_ifs=$IFS
IFS=,
for route in ${IMIP_LAB_ROUTES:-}; do
    IFS=$old_ifs
    set -- $route
    if [ "$(ip -4 route show exact "$1" | awk '{print $3}')" != "$2" ]; then
        ip route replace "$1" via "$2"
        changed "route $1 via $2"
    fi
done
IFS=$old_ifs

# A router (imip_lab_uplink): podman gives every network a default route; it must use only its
# uplink's.
via=${IMIP_LAB_UPLINK_VIA:-}
if [ -n "$via" ] && ! { [ "$(ip -4 route show default | wc -l)" -eq 1 ] \
    && ip -4 route show default | grep -q "^default via $via "; }; then
    ip route del default 2>/dev/null || true
    ip route del default 2>/dev/null || true
    ip route replace default via "$via"
    changed "default route via $via"
fi

# The lab's name servers (imip_lab_resolvers), as a provider's DHCP would set them; the build
# machine's resolver stays last, with a short timeout, for the Debian mirror and PyPI. podman
# bind-mounts the file: it is rewritten in place.
if [ -n "${IMIP_LAB_RESOLVERS:-}" ]; then
    upstream=""
    for server in $(awk '$1 == "nameserver" {print $2}' /etc/resolv.conf); do
        case " $IMIP_LAB_RESOLVERS " in *" $server "*) ;; *) upstream=$server ;; esac
    done
    want=$(
        echo "# imip lab: the lab's name servers (imip_lab_resolvers), then the build machine's"
        for server in $IMIP_LAB_RESOLVERS $upstream; do echo "nameserver $server"; done
        echo "options timeout:1 attempts:2"
    )
    if [ "$want" != "$(cat /etc/resolv.conf)" ]; then
        printf '%s\n' "$want" >/etc/resolv.conf
        changed "resolv.conf"
    fi
fi

# SSH: the lab's key for the login account, sshd running, its host key for known_hosts.
user=$IMIP_LAB_USER
if ! home=$(getent passwd "$user" | cut -d: -f6) || [ -z "$home" ]; then
    echo "the image has no user '$user' (ansible_user); the lab images have 'ansible'" >&2
    exit 1
fi
if [ "$(cat "$home/.ssh/authorized_keys" 2>/dev/null)" != "$IMIP_LAB_KEY" ]; then
    install -d -m 0700 -o "$user" -g "$(id -g "$user")" "$home/.ssh"
    (umask 077 && printf '%s\n' "$IMIP_LAB_KEY" >"$home/.ssh/authorized_keys")
    chown "$user:$(id -g "$user")" "$home/.ssh/authorized_keys"
    changed "authorized_keys"
fi
wait_for 60 "no SSH host key after 60s (is openssh-server in the image?)" test -s /etc/ssh/ssh_host_ed25519_key.pub
if ! systemctl is-active -q ssh.service; then
    systemctl start ssh.service
    changed "ssh.service started"
fi
echo "hostkey: $(cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub)"

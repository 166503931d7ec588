#!/usr/bin/env bash
# Makes a small base root image to build from: the local stand-in for a source AMI's root
# snapshot. By default a disk image with an MBR partition table (one bootable Linux
# partition from 1 MiB, like most cloud images) holding an ext4 file system labelled
# "rootfs" with a busybox root; with --bare the file system fills the whole image.
#
# The file system is populated without mounting (mkfs.ext4 -d, written at the partition's
# offset), so no loop device is needed: they are scarce on shared build hosts, and tests
# make many of these at once.
#
# Usage: make-base-image.sh OUT.img [--size 64M] [--bare] [--tree DIR]
set -euo pipefail

readonly PROG=${0##*/}
readonly DEFAULT_SIZE=64M
# Below this a journalled ext4 with a 2 MB busybox no longer leaves room to provision.
readonly MIN_SIZE_MIB=16

usage() {
  cat <<EOF
Usage: $PROG OUT.img [--size SIZE] [--bare] [--tree DIR]

Makes a base root image at OUT.img (replaced atomically if it exists).

  --size SIZE  image size: a number of MiB, or with suffix M or G (default $DEFAULT_SIZE,
               at least ${MIN_SIZE_MIB}M)
  --bare       no partition table: the ext4 file system is the whole image
  --tree DIR   use DIR as the root file system's content instead of the busybox root
               (DIR is copied, not changed)
  -h, --help   show this help

Must run as root: the files in the image must belong to root, and missing tools
(busybox-static, fdisk, e2fsprogs) are installed with apt-get.
EOF
}

die() {
  printf '%s: %s\n' "$PROG" "$*" >&2
  exit 1
}

say() {
  printf '%s: %s\n' "$PROG" "$*" >&2
}

# --- arguments ---------------------------------------------------------------------------
out=""
size=$DEFAULT_SIZE
bare=false
tree=""
while (($# > 0)); do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --bare) bare=true ;;
    --size) (($# >= 2)) || die "--size needs a value"; size=$2; shift ;;
    --size=*) size=${1#--size=} ;;
    --tree) (($# >= 2)) || die "--tree needs a directory"; tree=$2; shift ;;
    --tree=*) tree=${1#--tree=} ;;
    -*) usage >&2; die "unknown option: $1" ;;
    *)
      [[ -z $out ]] || { usage >&2; die "only one output path, got '$out' and '$1'"; }
      out=$1
      ;;
  esac
  shift
done
[[ -n $out ]] || { usage >&2; die "missing OUT.img"; }

case $size in
  *[!0-9MmGg]* | "" | [MmGg]* | *[MmGg]?*) die "bad --size '$size': use e.g. 64M, 1536M or 2G" ;;
  *[Gg]) size_mib=$((10#${size%[Gg]} * 1024)) ;;
  *[Mm]) size_mib=$((10#${size%[Mm]})) ;;
  *) size_mib=$((10#$size)) ;;
esac
((size_mib >= MIN_SIZE_MIB)) || die "--size $size is too small: at least ${MIN_SIZE_MIB}M"

# Never write over a disk or anything that is not an image file: OUT could be a typo.
if [[ -e $out || -L $out ]]; then
  [[ -f $out && ! -L $out ]] || die "$out exists and is not a regular file; refusing to replace it"
fi
out_dir=$(dirname -- "$out")
[[ -d $out_dir ]] || die "no such directory: $out_dir"
if [[ -n $tree ]]; then
  [[ -d $tree ]] || die "--tree $tree is not a directory"
fi

[[ $(id -u) -eq 0 ]] || die "must run as root (image files must be owned by root; may install packages)"

# --- tools -------------------------------------------------------------------------------
apt_updated=false
install_packages() {
  command -v apt-get >/dev/null || die "missing $*, and no apt-get to install it: install $* by hand"
  say "installing $*"
  # Parallel test workers may run this script at once: wait for the dpkg lock, don't fail.
  local apt=(apt-get -y -q --no-install-recommends -o DPkg::Lock::Timeout=600)
  if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "$@" >&2; then
    # A fresh machine has no package lists yet.
    $apt_updated && die "could not install $*"
    apt_updated=true
    DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600 update >&2 ||
      die "apt-get update failed; cannot install $*"
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "$@" >&2 || die "could not install $*"
  fi
}

need_command() { # need_command COMMAND PACKAGE
  command -v "$1" >/dev/null || install_packages "$2"
  command -v "$1" >/dev/null || die "$1 still missing after installing $2"
}

# sbin directories are not on every root's PATH (su without -, some CI runners).
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
need_command mkfs.ext4 e2fsprogs
$bare || need_command sfdisk fdisk
need_command truncate coreutils

# The busybox must be static: nothing else (no libc) goes into the image. Debian's
# busybox-static replaces the dynamically linked busybox package if that is installed.
busybox=/bin/busybox
if [[ -z $tree ]]; then
  if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'; then
    install_packages busybox-static
  fi
  [[ -x $busybox ]] || die "$busybox missing after installing busybox-static"
fi

# --- work area ---------------------------------------------------------------------------
# Next to OUT, so the finished image is renamed into place (atomic, and a crash never
# leaves a half-written OUT), and large file systems stay off a small /tmp.
work=$(mktemp -d "$out_dir/.${PROG%.sh}.XXXXXX")
cleanup() { rm -rf -- "$work"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the busybox root --------------------------------------------------------------------
# Applets not linked: package-manager look-alikes would make the engine (or a provisioner)
# take this for a Debian or RPM system, and busybox halt/poweroff/reboot signal PID 1,
# which in a chroot is the build host's init. init gets its own link in /sbin.
readonly SKIP_APPLETS=" dpkg dpkg-deb rpm rpm2cpio init linuxrc halt poweroff reboot "

make_busybox_tree() {
  local root=$1 applet applets
  # Read once into a variable: "busybox --list | grep -q" would fail under pipefail when
  # grep stops reading early.
  applets=$("$busybox" --list)

  install -d -m 0755 "$root"
  (
    cd "$root"
    install -d -m 0755 bin sbin etc usr/bin usr/sbin usr/lib var/log var/lib home \
      proc sys dev dev/pts run mnt
    install -d -m 0700 root
    install -d -m 1777 tmp var/tmp
    install -m 0755 "$busybox" bin/busybox

    local required=(sh ls cat echo mkdir rm cp mv chmod sleep env id uname grep sed printf
      test true false ps kill hostname tee touch date)
    for applet in "${required[@]}"; do
      grep -qx -- "$applet" <<<"$applets" || die "this busybox lacks the $applet applet"
    done
    while IFS= read -r applet; do
      [[ $SKIP_APPLETS == *" $applet "* || $applet == busybox ]] && continue
      ln -s busybox "bin/$applet"
    done <<<"$applets"
    ln -s /bin/busybox sbin/init
    # Scripts' "#!/usr/bin/env sh" must find env where every distribution has it.
    ln -s /bin/busybox usr/bin/env

    cat >etc/os-release <<EOF
NAME="ami-factory base"
ID=ami-factory-base
VERSION_ID="1"
PRETTY_NAME="ami-factory base 1 (busybox $busybox_version)"
EOF
    echo ami-factory-base >etc/hostname
    cat >etc/hosts <<'EOF'
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
EOF
    cat >etc/passwd <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
    cat >etc/group <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
    install -m 0640 /dev/null etc/shadow
    printf '%s\n' 'root:*:19000:0:99999:7:::' 'nobody:*:19000:0:99999:7:::' >etc/shadow
    echo 'LABEL=rootfs / ext4 defaults,errors=remount-ro 0 1' >etc/fstab
    # As on images that run resolvconf or systemd-resolved: a symlink into /run that
    # dangles until boot. The engine must keep it when it copies the host's resolv.conf in.
    ln -s ../run/resolvconf/resolv.conf etc/resolv.conf
  )
}

if [[ -n $tree ]]; then
  root=$tree
else
  busybox_version=$("$busybox" | sed -n '1s/^BusyBox \(v[^ ]*\).*/\1/p')
  root=$work/root
  make_busybox_tree "$root"
fi

# --- the file system ---------------------------------------------------------------------
fs_mib=$size_mib
$bare || fs_mib=$((size_mib - 1))
image=$work/image.img
truncate -s "${size_mib}M" "$image"
mkfs_at=()
if ! $bare; then
  # One Linux partition from 1 MiB (sector 2048) to the end, bootable, like cloud images.
  sfdisk --quiet --no-reread --no-tell-kernel "$image" >&2 <<EOF ||
label: dos
unit: sectors

start=2048, size=$((fs_mib * 2048)), type=83, bootable
EOF
    die "sfdisk failed on $image"
  # mke2fs writes the file system straight into the partition's byte range: no loop
  # device, and unlike building it apart and dd-ing it in, no second copy to read back.
  mkfs_at=(-E offset=$((1024 * 1024)))
fi
# 4 KiB blocks even on small images (mke2fs would pick 1 KiB): like real root volumes, so
# growing the volume and resize2fs behave as they do in production. The block count is
# explicit because with an offset mke2fs would otherwise size the file system to the file.
mkfs.ext4 -q -F -t ext4 -b 4096 -L rootfs -d "$root" "${mkfs_at[@]}" "$image" $((fs_mib * 256)) >&2 ||
  die "mkfs.ext4 failed (is --size $size large enough for the root tree?)"

mv -f -- "$image" "$out"

# --- report ------------------------------------------------------------------------------
if $bare; then
  layout="no partition table; ext4 over the whole image"
else
  layout="MBR, partition 1 from 1 MiB (${fs_mib} MiB, type 83, bootable) holding ext4"
fi
if [[ -n $tree ]]; then
  content="root tree copied from $tree"
else
  content="busybox $busybox_version root"
fi
echo "made $out: ${size_mib} MiB sparse image; $layout"
echo "  file system: ext4, label rootfs; $content"

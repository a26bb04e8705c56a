# Sourced by scripts/build-qemu.sh, build-libvirt.sh and check-series.sh: how QEMU and libvirt are configured here,
# in one place, for the builds the tests use and for the patch-by-patch builds of check-series.sh.

# qemu_configure SOURCE_DIR BUILD_DIR LOG: a minimal x86_64 system emulator (TCG and KVM) and QEMU's qtests. Debian's
# source has no firmware blobs: QEMU looks for SeaBIOS and its option ROMs where Debian installs them (the qtests give
# no -L; see qemu_link_firmware). Reconfigures from scratch when the build directory was configured otherwise.
readonly QEMU_FIRMWARE_PATH=/usr/share/seabios:/usr/share/qemu:/usr/lib/ipxe/qemu
qemu_configure() {
  local source_dir="$1" build_dir="$2" log="$3"
  # configure writes the path into config-host.h as C strings: "/usr/share/seabios", "/usr/share/qemu", ...
  local configured
  configured="$(printf '"%s", ' ${QEMU_FIRMWARE_PATH//:/ })"
  if [[ -f "$build_dir/build.ninja" ]] && grep -qF "${configured% }" "$build_dir/config-host.h"; then
    return 0
  fi
  rm -rf "$build_dir"
  mkdir -p "$build_dir"
  (cd "$build_dir" && "$source_dir/configure" --target-list=x86_64-softmmu --without-default-features \
      --enable-tcg --enable-kvm --enable-fdt=system --disable-docs --disable-install-blobs \
      --firmwarepath="$QEMU_FIRMWARE_PATH" >"$log" 2>&1) ||
    { cat "$log" >&2; echo "qemu_configure: configure failed" >&2; return 1; }
}

# qemu_link_firmware BUILD_DIR: run from its build tree, QEMU relocates the firmware path into BUILD_DIR/qemu-bundle;
# the firmware is linked there from where Debian installs it.
qemu_link_firmware() {
  local build_dir="$1" dir
  for dir in ${QEMU_FIRMWARE_PATH//:/ }; do
    mkdir -p "$(dirname "$build_dir/qemu-bundle$dir")"
    ln -sfn "$dir" "$build_dir/qemu-bundle$dir"
  done
}

# libvirt_configure SOURCE_DIR BUILD_DIR LOG: libvirtd with the QEMU driver, virsh, and the unit tests (with the test
# driver, which virshtest drives); no other drivers, storage backends or optional features.
libvirt_configure() {
  local source_dir="$1" build_dir="$2" log="$3"
  local options=(-Dsystem=true -Ddriver_qemu=enabled -Ddriver_libvirtd=enabled -Ddriver_remote=enabled
                 -Ddriver_test=enabled -Dtests=enabled -Dyajl=enabled -Dqemu_user=libvirt-qemu -Dqemu_group=libvirt-qemu)
  local driver storage feature
  for driver in network lxc vbox esx ch libxl openvz vmware vz hyperv bhyve interface secrets; do
    options+=("-Ddriver_$driver=disabled")
  done
  for storage in dir fs disk iscsi iscsi_direct lvm mpath rbd scsi vstorage zfs gluster; do
    options+=("-Dstorage_$storage=disabled")
  done
  for feature in docs nls polkit apparmor secdriver_apparmor selinux secdriver_selinux wireshark_dissector \
                 libssh libssh2 sasl audit nss login_shell bash_completion firewalld numactl fuse glusterfs libiscsi \
                 curl openwsman sanlock dtrace host_validate udev pciaccess; do
    options+=("-D$feature=disabled")
  done
  if [[ -f "$build_dir/build.ninja" ]]; then
    # an older build directory, configured without the tests: the same options, in place
    grep -q "tests = enabled" "$build_dir/meson-private/cmd_line.txt" 2>/dev/null && return 0
    (meson configure "$build_dir" "${options[@]}" >"$log" 2>&1) ||
      { tail -n 40 "$log" >&2; echo "libvirt_configure: meson configure failed (log: $log)" >&2; return 1; }
    return 0
  fi
  (cd "$source_dir" && meson setup "$build_dir" "${options[@]}" >"$log" 2>&1) ||
    { tail -n 40 "$log" >&2; echo "libvirt_configure: meson setup failed (log: $log)" >&2; return 1; }
}

//! The only unsafe code of the `smart` probe: the two ioctls it issues, `SG_IO` (ATA PASS-THROUGH to
//! `/dev/sdX`) and `NVME_IOCTL_ADMIN_CMD` (admin commands to `/dev/nvmeN`), with the kernel structs
//! laid out byte for byte as `rust-stack.md` §4 gives them (sizes checked at compile time).
//!
//! Invariants: every pointer handed to the kernel points into a buffer borrowed for the whole call;
//! every length field is that buffer's length; the sense length written back is clamped to the
//! buffer. Nothing here interprets a reply: [`ata::check_reply`](super::ata::check_reply) and the
//! NVMe status handling in [`read`](super::read) do, as pure code.
#![allow(unsafe_code)]

use super::ata::SgReply;
use super::read::{AtaDevice, NvmeController};
use nix::errno::Errno;
use std::ffi::c_void;
use std::fs::File;
use std::os::fd::AsRawFd;

/// `struct sg_io_hdr` from `<scsi/sg.h>` (x86_64: 88 bytes).
#[repr(C)]
struct SgIoHdr {
    interface_id: i32,
    dxfer_direction: i32,
    cmd_len: u8,
    mx_sb_len: u8,
    iovec_count: u16,
    dxfer_len: u32,
    dxferp: *mut c_void,
    cmdp: *const u8,
    sbp: *mut u8,
    timeout: u32,
    flags: u32,
    pack_id: i32,
    usr_ptr: *mut c_void,
    status: u8,
    masked_status: u8,
    msg_status: u8,
    sb_len_wr: u8,
    host_status: u16,
    driver_status: u16,
    resid: i32,
    duration: u32,
    info: u32,
}

/// `struct nvme_admin_cmd` (= `nvme_passthru_cmd`) from `<linux/nvme_ioctl.h>` (72 bytes).
#[repr(C)]
#[derive(Default)]
struct NvmeAdminCmd {
    opcode: u8,
    flags: u8,
    rsvd1: u16,
    nsid: u32,
    cdw2: u32,
    cdw3: u32,
    metadata: u64,
    addr: u64,
    metadata_len: u32,
    data_len: u32,
    cdw10: u32,
    cdw11: u32,
    cdw12: u32,
    cdw13: u32,
    cdw14: u32,
    cdw15: u32,
    timeout_ms: u32,
    result: u32,
}

#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<SgIoHdr>() == 88);
const _: () = assert!(std::mem::size_of::<NvmeAdminCmd>() == 72);

/// `SG_IO`: a legacy number, not `_IOC`-encoded, hence nix's `_bad` variant.
const SG_IO: u32 = 0x2285;
nix::ioctl_readwrite_bad!(sg_io, SG_IO, SgIoHdr);
// `_IOWR('N', 0x41, struct nvme_admin_cmd)` = 0xC0484E41.
nix::ioctl_readwrite!(nvme_admin_cmd, b'N', 0x41, NvmeAdminCmd);

const SG_DXFER_NONE: i32 = -1;
const SG_DXFER_FROM_DEV: i32 = -3;
/// Sense buffer size: enough for the descriptor header plus the 14-byte ATA Status Return
/// descriptor, and for fixed format (18 bytes).
const SENSE_LEN: usize = 32;
/// Per-command timeout. A healthy disk answers SMART in milliseconds; a dying one may retry for
/// seconds, and the probe must still end.
const TIMEOUT_MS: u32 = 10_000;

/// An open `/dev/sdX` that takes ATA PASS-THROUGH through `SG_IO`.
pub struct SgDevice(pub File);

impl AtaDevice for SgDevice {
    fn pass_through(&mut self, cdb: &[u8; 16], data: Option<&mut [u8]>) -> Result<SgReply, Errno> {
        let mut sense = [0u8; SENSE_LEN];
        let (direction, ptr, len) = match data {
            Some(buf) => {
                let len = u32::try_from(buf.len()).map_err(|_| Errno::EINVAL)?;
                (SG_DXFER_FROM_DEV, buf.as_mut_ptr().cast::<c_void>(), len)
            }
            None => (SG_DXFER_NONE, std::ptr::null_mut(), 0),
        };
        let mut hdr = SgIoHdr {
            interface_id: i32::from(b'S'),
            dxfer_direction: direction,
            cmd_len: 16,
            mx_sb_len: SENSE_LEN as u8,
            iovec_count: 0,
            dxfer_len: len,
            dxferp: ptr,
            cmdp: cdb.as_ptr(),
            sbp: sense.as_mut_ptr(),
            timeout: TIMEOUT_MS,
            flags: 0,
            pack_id: 0,
            usr_ptr: std::ptr::null_mut(),
            status: 0,
            masked_status: 0,
            msg_status: 0,
            sb_len_wr: 0,
            host_status: 0,
            driver_status: 0,
            resid: 0,
            duration: 0,
            info: 0,
        };
        // SAFETY: `hdr` is a correctly laid out sg_io_hdr; `cdb` (16 bytes, cmd_len 16), `sense`
        // (SENSE_LEN bytes, mx_sb_len) and the data buffer (dxfer_len bytes) all outlive the call,
        // which is synchronous.
        unsafe { sg_io(self.0.as_raw_fd(), &mut hdr) }?;
        let written = usize::from(hdr.sb_len_wr).min(SENSE_LEN);
        Ok(SgReply {
            status: hdr.status,
            host_status: hdr.host_status,
            driver_status: hdr.driver_status,
            resid: hdr.resid,
            sense: sense[..written].to_vec(),
        })
    }
}

/// An open NVMe controller character device (`/dev/nvmeN`).
pub struct NvmeDevice(pub File);

impl NvmeController for NvmeDevice {
    fn admin(&mut self, opcode: u8, nsid: u32, cdw10: u32, data: &mut [u8]) -> Result<u32, Errno> {
        let mut cmd = NvmeAdminCmd {
            opcode,
            nsid,
            addr: data.as_mut_ptr() as u64,
            data_len: u32::try_from(data.len()).map_err(|_| Errno::EINVAL)?,
            cdw10,
            timeout_ms: TIMEOUT_MS,
            ..NvmeAdminCmd::default()
        };
        // SAFETY: `cmd` is a correctly laid out nvme_admin_cmd whose `addr`/`data_len` describe
        // `data`, which the kernel writes at most `data_len` bytes into and which outlives the call.
        let rc = unsafe { nvme_admin_cmd(self.0.as_raw_fd(), &mut cmd) }?;
        // -1 became the Err above; > 0 is the NVMe status field (a failed command); 0 is success.
        Ok(u32::try_from(rc).unwrap_or(u32::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nvme_admin_ioctl_number_is_the_kernels() {
        let code = nix::request_code_readwrite!(b'N', 0x41, std::mem::size_of::<NvmeAdminCmd>());
        assert_eq!(code as u32, 0xC048_4E41);
    }
}

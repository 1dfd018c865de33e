//! A device backed by a host file (benchmarks, host tools). `flush` is
//! `fsync` (File::sync_data).

use std::fs::File;
use std::os::unix::fs::FileExt;

use crate::device::check_request;
use crate::{BlockDevice, DeviceError, BLOCK_SIZE};

pub struct FileDevice {
    file: File,
    block_count: u64,
}

impl FileDevice {
    /// Uses `file` as a device of `block_count` blocks (the file is extended if shorter).
    pub fn new(file: File, block_count: u64) -> std::io::Result<Self> {
        let len = block_count * BLOCK_SIZE as u64;
        if file.metadata()?.len() < len {
            file.set_len(len)?;
        }
        Ok(Self { file, block_count })
    }
}

fn io_error(first: u64, e: std::io::Error) -> DeviceError {
    DeviceError::Io {
        first,
        code: e.raw_os_error().unwrap_or(-1),
    }
}

impl BlockDevice for FileDevice {
    fn block_count(&self) -> u64 {
        self.block_count
    }
    fn read(&mut self, first: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        check_request(first, buf.len(), self.block_count)?;
        self.file
            .read_exact_at(buf, first * BLOCK_SIZE as u64)
            .map_err(|e| io_error(first, e))
    }
    fn write(&mut self, first: u64, data: &[u8]) -> Result<(), DeviceError> {
        check_request(first, data.len(), self.block_count)?;
        self.file
            .write_all_at(data, first * BLOCK_SIZE as u64)
            .map_err(|e| io_error(first, e))
    }
    fn flush(&mut self) -> Result<(), DeviceError> {
        self.file.sync_data().map_err(|e| io_error(0, e))
    }
}

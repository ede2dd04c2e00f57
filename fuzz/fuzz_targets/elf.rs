//! Fuzzes the ELF reader (`forge_core::elf`): it must never panic on any
//! bytes, and what it reads must be what `ElfInfo::to_bytes` writes back.
#![no_main]

use forge_core::elf::ElfInfo;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = ElfInfo::parse(data) {
        // Strings with NUL cannot be written back; the reader never returns
        // them, so the round trip must hold.
        let again = ElfInfo::parse(&info.to_bytes()).expect("written ELF parses");
        assert_eq!(again, info);
    }
});

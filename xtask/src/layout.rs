//! `cargo xtask code-layout`: lists the functions a run executes, for the linker to place
//! together (crates/cli/hot-functions.txt, read by crates/cli/build.rs).
//!
//! Why: the kernel maps a binary's code in 64 KiB windows (fault-around) around each page a
//! process touches. With the few megabytes a run executes spread over a 14 MB `.text`, most of
//! the code ends up resident. Listed first and contiguous, the same code touches a fraction of
//! the windows (docs/performance.md, "Code layout").
//!
//! How: the static release binary (linked with a map, see crates/cli/build.rs) is run under Valgrind's callgrind
//! against the scripted LLM (the bench's Expert, full and compact events, then `log --verify`
//! and `jobs`), and every executed instruction address is mapped to the function section that
//! holds it.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use perstack_testkit::{ScriptOptions, ScriptedLlm};

/// Where the list lives (read by crates/cli/build.rs).
pub const LIST: &str = "crates/cli/hot-functions.txt";

/// Tool steps of the recorded runs.
const STEPS: usize = 20;

/// Builds, records and writes the list, then rebuilds the binary with it.
pub fn run(root: &Path) -> Result<()> {
    if Command::new("valgrind")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        bail!("valgrind is not installed; install it (Debian: apt-get install valgrind)");
    }
    crate::image::build_static_binary(root)?;
    let map = crate::image::static_link_map(root);
    let bin = crate::image::static_binary_path(root);
    let sections = read_map(&map)?;
    let scratch = crate::bench::target_dir(root).join("code-layout");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let mut executed = BTreeSet::new();
    for (i, args) in scenarios().iter().enumerate() {
        let out = scratch.join(format!("callgrind.{i}.out"));
        record(&bin, &scratch, args, &out)?;
        executed.extend(executed_addresses(&std::fs::read_to_string(&out)?));
    }
    let hot = hot_sections(&sections, &executed);
    let bytes: u64 = hot.iter().map(|s| s.size).sum();
    let text: u64 = sections.iter().map(|s| s.size).sum();
    let list: String = hot.iter().map(|s| format!("{}\n", s.symbol)).collect();
    std::fs::write(root.join(LIST), list)?;
    eprintln!(
        "code-layout: {} functions executed ({:.2} MB of {:.2} MB of named code), written to {LIST}",
        hot.len(),
        bytes as f64 / 1e6,
        text as f64 / 1e6
    );
    crate::image::build_static_binary(root)?;
    let (found, listed) = coverage(root)?;
    eprintln!("code-layout: the rebuilt binary has {found} of the {listed} listed functions");
    Ok(())
}

/// How many functions of the list the current static binary's link map has, of how many:
/// code renamed or removed since the list was written is no longer placed.
pub fn coverage(root: &Path) -> Result<(usize, usize)> {
    let list =
        std::fs::read_to_string(root.join(LIST)).with_context(|| format!("reading {LIST}"))?;
    let sections = read_map(&crate::image::static_link_map(root))?;
    let present: BTreeSet<&str> = sections.iter().map(|s| s.symbol.as_str()).collect();
    let listed: Vec<&str> = list.lines().filter(|l| !l.is_empty()).collect();
    let found = listed.iter().filter(|l| present.contains(*l)).count();
    Ok((found, listed.len()))
}

/// The commands recorded, after `perstack` (each against a fresh scripted LLM).
fn scenarios() -> Vec<Vec<&'static str>> {
    vec![
        vec!["run"],
        vec!["run", "--events", "compact"],
        vec!["log", "--verify"],
        vec!["jobs"],
    ]
}

/// Runs `perstack <args>` under callgrind in `scratch`'s workspace; a `run` gets the bench's
/// Expert and a scripted LLM.
fn record(bin: &Path, scratch: &Path, args: &[&str], out: &Path) -> Result<()> {
    let ws = scratch.join("ws");
    std::fs::create_dir_all(&ws)?;
    std::fs::write(ws.join("notes.md"), "# Notes\n\nOne line of notes.\n")?;
    let config = scratch.join("perstack.toml");
    std::fs::write(&config, crate::bench::side_by_side::perstack_config())?;
    let llm = ScriptedLlm::start_with(
        crate::bench::scaling::script(STEPS),
        ScriptOptions {
            by_depth: true,
            discard_bodies: true,
        },
    )?;
    let mut cmd = Command::new("valgrind");
    cmd.args([
        "--tool=callgrind",
        "--dump-instr=yes",
        "--compress-pos=no",
        "--compress-strings=no",
        "--trace-children=no",
    ])
    .arg(format!("--callgrind-out-file={}", out.display()))
    .arg(bin)
    .args(args)
    .env_clear()
    .env("PATH", std::env::var_os("PATH").unwrap_or_default())
    .env("HOME", scratch)
    .env("OPENAI_API_KEY", "sk-bench-not-a-secret")
    .env("OPENAI_BASE_URL", &llm.base_url)
    .current_dir(&ws)
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(out.with_extension("stderr"))?);
    if args.first() == Some(&"run") {
        cmd.arg("--config")
            .arg(&config)
            .args(["--provider", "openai", "--model", "bench-model"])
            .args(["reader", "Read notes.md 20 times, then finish."]);
    } else {
        cmd.arg("--workspace").arg(&ws);
    }
    let status = cmd.status().context("running valgrind")?;
    if !status.success() {
        bail!(
            "perstack {} under callgrind failed ({status}); see {}",
            args.join(" "),
            out.with_extension("stderr").display()
        );
    }
    Ok(())
}

/// One input section of the binary's `.text`, from the link map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Address in the linked binary.
    pub start: u64,
    /// Bytes.
    pub size: u64,
    /// The first symbol it defines: listing it moves the whole section (LLD orders sections
    /// by the symbols they hold). A Rust function's section (`.text.<symbol>`, or
    /// `.text.unlikely.<symbol>` for cold code) holds just that function; a C object's plain
    /// `.text` holds all of its functions.
    pub symbol: String,
    /// The input section's name (`.text.…`).
    pub name: String,
    /// The object it comes from, as the map names it (`…/libc.a(malloc.o)`).
    pub file: String,
}

fn read_map(path: &Path) -> Result<Vec<Section>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the link map {}", path.display()))?;
    let sections = parse_map(&text);
    if sections.is_empty() {
        bail!(
            "{} lists no code sections: was the binary linked by LLD (crates/cli/build.rs)?",
            path.display()
        );
    }
    Ok(sections)
}

/// The input sections of the `.text` output section of an LLD link map, by address.
///
/// The map has columns `VMA LMA Size Align Out In Symbol`; an output section is named in the
/// `Out` column, an input section (`file:(section)`) in the `In` column, a symbol it defines
/// in the `Symbol` column.
pub fn parse_map(map: &str) -> Vec<Section> {
    let mut lines = map.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let (Some(in_col), Some(sym_col)) = (header.find(" In ").map(|i| i + 1), header.find("Symbol"))
    else {
        return Vec::new();
    };
    let mut out: Vec<Section> = Vec::new();
    let mut in_text = false;
    let mut pending: Option<Section> = None;
    for line in lines {
        let mut cols = line.split_whitespace();
        let (Some(vma), Some(_lma), Some(size), Some(_align)) =
            (cols.next(), cols.next(), cols.next(), cols.next())
        else {
            continue;
        };
        let (Ok(start), Ok(size)) = (u64::from_str_radix(vma, 16), u64::from_str_radix(size, 16))
        else {
            continue;
        };
        let Some(name) = cols.next() else { continue };
        let Some(col) = fifth_column(line) else {
            continue;
        };
        if col < in_col {
            in_text = name == ".text";
            pending = None;
        } else if col < sym_col {
            pending = None;
            if !in_text || size == 0 {
                continue;
            }
            if let Some((file, section)) = name.rsplit_once(":(") {
                pending = Some(Section {
                    start,
                    size,
                    symbol: String::new(),
                    name: section.trim_end_matches(')').to_string(),
                    file: file.to_string(),
                });
            }
        } else if let Some(mut section) = pending.take() {
            section.symbol = name.to_string();
            out.push(section);
        }
    }
    out.sort_by_key(|s| s.start);
    out
}

/// Where the fifth space-separated column of `line` starts.
fn fifth_column(line: &str) -> Option<usize> {
    let mut seen = 0;
    let mut after_space = true;
    for (i, c) in line.char_indices() {
        if c != ' ' && after_space {
            seen += 1;
            if seen == 5 {
                return Some(i);
            }
        }
        after_space = c == ' ';
    }
    None
}

/// The instruction addresses a callgrind profile (`--dump-instr=yes --compress-pos=no`)
/// records for the profiled program's own object.
pub fn executed_addresses(profile: &str) -> BTreeSet<u64> {
    let mut out = BTreeSet::new();
    let mut in_program = false;
    for line in profile.lines() {
        if let Some(ob) = line.strip_prefix("ob=") {
            // The first object named is the program; others are `???` (Valgrind's own).
            in_program = !ob.contains("???");
            continue;
        }
        if !in_program {
            continue;
        }
        let first = line
            .strip_prefix("calls=")
            .and_then(|rest| rest.split_whitespace().nth(1))
            .or_else(|| line.split_whitespace().next());
        if let Some(addr) = first
            .and_then(|t| t.strip_prefix("0x"))
            .and_then(|h| u64::from_str_radix(h, 16).ok())
        {
            out.insert(addr);
        }
    }
    out
}

/// The sections holding at least one executed address, in address order, plus the siblings
/// of an executed C library string function: glibc picks its variant (`memmove-avx512-…`,
/// `memmove-avx-…`) by the CPU at start, and the CPU that runs the binary need not be the one
/// Valgrind emulated.
pub fn hot_sections<'a>(sections: &'a [Section], executed: &BTreeSet<u64>) -> Vec<&'a Section> {
    let hit = |s: &Section| executed.range(s.start..s.start + s.size).next().is_some();
    let family = |s: &Section| -> Option<String> {
        // A variant lives in `libc.a(<function>-<variant>.o)`, in a `.text.<isa>` section.
        if s.name == ".text" {
            return None;
        }
        let member = s.file.rsplit_once("libc.a(")?.1;
        Some(member.split_once('-')?.0.to_string())
    };
    let families: BTreeSet<String> = sections
        .iter()
        .filter(|s| hit(s))
        .filter_map(&family)
        .collect();
    sections
        .iter()
        .filter(|s| hit(s) || family(s).is_some_and(|f| families.contains(&f)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    // The shape of LLD's `-Map` output: output sections, input sections, symbols.
    const MAP: &str = "             VMA              LMA     Size Align Out     In      Symbol
             2a8              2a8       20     4 .note.ABI-tag
             2a8              2a8       20     4         /usr/lib/rcrt1.o:(.note.ABI-tag)
             2a8              2a8       20     1                 __abi_tag
          335380           335380   db9a7c    64 .text
          335380           335380       2c    16         /usr/lib/crt1.o:(.text)
          335380           335380        0     1                 _start
          3353c0           3353c0       40    16         perstack.o:(.text._ZN4main17h01E)
          3353c0           3353c0        0     1                 _ZN4main17h01E
          335400           335400       80    16         perstack.o:(.text._ZN4cold17h02E)
          335400           335400        0     1                 _ZN4cold17h02E
          335480           335480       10    16         perstack.o:(.text.unlikely._RNv4grow)
          335480           335480        0     1                 _RNv4grow
          335500           335500      100    16         /usr/lib/libc.a(malloc.o):(.text)
          335500           335500        0     1                 __libc_malloc
          335540           335540        0     1                 __libc_free
          335600           335600       40    64         /usr/lib/libc.a(memmove-avx512-erms.o):(.text.evex512)
          335600           335600        0     1                 __memmove_avx512_erms
          335640           335640       40    64         /usr/lib/libc.a(memmove-sse2-erms.o):(.text)
          335640           335640        0     1                 __memmove_sse2_erms
          335680           335680       40    64         /usr/lib/libc.a(memmove-avx-erms.o):(.text.avx)
          335680           335680        0     1                 __memmove_avx_erms
         1200000          1200000       10     8 .rodata
         1200000          1200000       10     8         perstack.o:(.rodata._ZN5TABLE)
         1200000          1200000        0     1                 _ZN5TABLE
";

    fn symbols(sections: &[&Section]) -> Vec<String> {
        sections.iter().map(|s| s.symbol.clone()).collect()
    }

    #[test]
    fn a_link_map_gives_the_code_sections_by_address_named_by_their_first_symbol() {
        let got = parse_map(MAP);
        let rows: Vec<(u64, u64, &str, &str)> = got
            .iter()
            .map(|s| (s.start, s.size, s.symbol.as_str(), s.name.as_str()))
            .collect();
        assert_eq!(
            rows,
            vec![
                (0x335380, 0x2c, "_start", ".text"),
                (0x3353c0, 0x40, "_ZN4main17h01E", ".text._ZN4main17h01E"),
                (0x335400, 0x80, "_ZN4cold17h02E", ".text._ZN4cold17h02E"),
                (0x335480, 0x10, "_RNv4grow", ".text.unlikely._RNv4grow"),
                (0x335500, 0x100, "__libc_malloc", ".text"),
                (0x335600, 0x40, "__memmove_avx512_erms", ".text.evex512"),
                (0x335640, 0x40, "__memmove_sse2_erms", ".text"),
                (0x335680, 0x40, "__memmove_avx_erms", ".text.avx"),
            ]
        );
    }

    #[test]
    fn only_sections_holding_an_executed_address_are_hot() {
        let sections = parse_map(MAP);
        // Inside main, at grow's first byte, past grow's end, in free (inside malloc.o).
        let executed: BTreeSet<u64> = [0x3353d0, 0x335480, 0x335490, 0x335540]
            .into_iter()
            .collect();
        assert_eq!(
            symbols(&hot_sections(&sections, &executed)),
            vec!["_ZN4main17h01E", "_RNv4grow", "__libc_malloc"]
        );
    }

    #[test]
    fn an_executed_string_function_variant_brings_its_siblings() {
        let sections = parse_map(MAP);
        let executed: BTreeSet<u64> = [0x335690].into_iter().collect();
        // The AVX-512 variant too; the plain `.text` one is not a CPU variant section.
        assert_eq!(
            symbols(&hot_sections(&sections, &executed)),
            vec!["__memmove_avx512_erms", "__memmove_avx_erms"]
        );
    }

    #[test]
    fn callgrind_addresses_are_taken_from_the_program_only() {
        let profile = "events: Ir\n\nob=(2) ???\nfn=(1) 0x11f65a0\n0x11f65a0 0 37\n\
            ob=(1) /bin/perstack\nfn=(3) 0x3353c0\n0x3353c0 0 3\n0x3353c4 0 1\n\
            calls=2 0x335480 0\n0x3353c8 0 9\n";
        let got: Vec<u64> = executed_addresses(profile).into_iter().collect();
        assert_eq!(got, vec![0x3353c0, 0x3353c4, 0x3353c8, 0x335480]);
    }
}

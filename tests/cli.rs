//! The commands around `run` and `check`: shell completions and man pages,
//! generated from the same definitions as the flags (packaging/deb.sh
//! installs them).

use std::process::Command;

fn cuttle(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args(args)
        .output()
        .expect("cuttle runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn completions_know_the_commands_and_their_flags() {
    for (shell, marker) in [
        ("bash", "complete -F _cuttle"),
        ("zsh", "#compdef cuttle"),
        ("fish", "complete -c cuttle"),
    ] {
        let (ok, script, err) = cuttle(&["completions", shell]);
        assert!(ok, "{shell}: {err}");
        assert!(script.contains(marker), "{shell}: {script}");
        // fish writes long flags without their dashes (`-l cores`).
        for flag in ["ignore-unimplemented", "krakend-body-framing", "cores"] {
            assert!(script.contains(flag), "{shell} completes --{flag}");
        }
    }
    let (ok, _, err) = cuttle(&["completions", "tcsh"]);
    assert!(!ok);
    assert!(err.contains("tcsh"), "{err}");
}

#[test]
fn man_pages_for_cuttle_and_each_command() {
    let (ok, page, _) = cuttle(&["man"]);
    assert!(ok);
    assert!(page.contains(".TH cuttle 1"), "{page}");
    assert!(
        page.contains("cuttle\\-run(1)"),
        "names the commands' pages"
    );
    let (ok, page, _) = cuttle(&["man", "check"]);
    assert!(ok);
    assert!(page.contains(".TH cuttle-check 1"), "{page}");
    assert!(page.contains("lint\\-schema"), "{page}");
    let (ok, _, err) = cuttle(&["man", "nope"]);
    assert!(!ok);
    assert!(err.contains("no command \"nope\""), "{err}");
}

//! A real headless Chromium for the dashboard tests, driven over WebDriver: Debian's `chromedriver`
//! on a free 127.0.0.1 port and the `fantoccini` client, behind a blocking API for plain `#[test]`s.
//!
//! Invariants:
//! - One chromedriver per [`Browser`], in a process group of its own, with its own Chromium profile
//!   in a temp dir: tests share nothing and run in parallel.
//! - Dropping the Browser ends the WebDriver session (Chromium quits), then SIGKILLs chromedriver's
//!   process group, which holds Chromium and its helpers, and reaps chromedriver: no process
//!   outlives it (Chromium's crash handler leaves the group, but exits with Chromium).
//! - Nothing hangs: every WebDriver command and every wait has a deadline, and a failure panics
//!   with where the browser was and what the page said.

use crate::{free_port, test_dir};
use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::future::Future;
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's `chromium-driver` package (the same version as `chromium`, which it requires).
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Debian's launcher, as a person starts it (it sources /etc/chromium.d).
const CHROMIUM: &str = "/usr/bin/chromium";
const INSTALL: &str = "apt-get install -y chromium chromium-driver";
/// The longest one WebDriver command may take (a first page load on a busy 2-core CI machine).
const COMMAND: Duration = Duration::from_secs(30);
/// How long a submitted form may take to bring the next page.
const NAVIGATION: Duration = Duration::from_secs(15);
/// How long [`Browser::text`], [`Browser::fill`] and the like wait for their element to appear.
const ELEMENT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(50);

/// A headless Chromium with its chromedriver; every method panics (failing the test) on error.
pub struct Browser {
    rt: tokio::runtime::Runtime,
    /// `None` only while dropping.
    client: Option<Client>,
    driver: Child,
    /// The Chromium profile and chromedriver's log (kept with `CENTINELA_KEEP_TMP=1`).
    dir: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free 127.0.0.1 port and opens a session with a fresh headless
    /// Chromium. Panics with the `apt-get` command if either is missing.
    pub fn start() -> Browser {
        for (bin, what) in [(CHROMEDRIVER, "chromedriver"), (CHROMIUM, "chromium")] {
            assert!(
                Path::new(bin).exists(),
                "{what} is not installed ({bin} is missing): {INSTALL} (.ci/run installs both, of the same version)"
            );
        }
        let dir = test_dir();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("chromedriver.out")).expect("chromedriver output file");
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", dir.path().join("chromedriver.log").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("chromedriver output file")))
            .stderr(Stdio::from(log))
            // Its own group, so that Drop can end it together with whatever it started.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        let mut b = Browser { rt, client: None, driver, dir };

        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = b.driver.try_wait() {
                panic!("chromedriver exited ({status}) before listening:\n{}", b.driver_log());
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {port} within 20 s:\n{}",
                b.driver_log()
            );
            std::thread::sleep(POLL);
        }

        let profile = b.dir.path().join("profile");
        let args = [
            "--headless".to_string(),
            // Tests run as root in CI, where Chromium refuses its sandbox.
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            // Containers have a small /dev/shm; Chromium crashes tabs when it fills up.
            "--disable-dev-shm-usage".into(),
            format!("--user-data-dir={}", profile.display()),
            "--no-first-run".into(),
            "--no-default-browser-check".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-extensions".into(),
            "--password-store=basic".into(),
            "--window-size=1280,1024".into(),
        ];
        let caps = serde_json::json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": { "implicit": 0, "pageLoad": 20_000, "script": 10_000 },
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": args,
                // No password manager: no "save password?" or breached-password prompts in a test.
                "prefs": {
                    "credentials_enable_service": false,
                    "profile.password_manager_enabled": false,
                    "profile.password_manager_leak_detection": false,
                },
            },
        });
        let serde_json::Value::Object(caps) = caps else { unreachable!("a JSON object") };
        let url = format!("http://127.0.0.1:{port}");
        let mut builder = ClientBuilder::new(HttpConnector::new());
        let connect = builder.capabilities(caps).connect(&url);
        match within(&b.rt, Duration::from_secs(60), connect) {
            Ok(Ok(client)) => b.client = Some(client),
            Ok(Err(e)) => panic!("chromedriver could not start Chromium: {e}\n{}", b.driver_log()),
            Err(_) => panic!("no WebDriver session within 60 s\n{}", b.driver_log()),
        }
        b
    }

    /// Opens `url` and waits for it to load.
    pub fn goto(&self, url: &str) {
        self.run(&format!("open {url}"), self.client().goto(url));
    }

    /// The address the browser is at now (after redirects).
    pub fn url(&self) -> String {
        self.run("read the URL", self.client().current_url()).to_string()
    }

    /// The path of [`Browser::url`] (`/login`, without the query).
    pub fn path(&self) -> String {
        self.run("read the URL", self.client().current_url()).path().to_string()
    }

    /// The live DOM, serialized (what `chromium --dump-dom` prints: after scripts ran).
    pub fn html(&self) -> String {
        self.run("read the page source", self.client().source())
    }

    /// Types `text` into the first element matching `css`, replacing what it held.
    pub fn fill(&self, css: &str, text: &str) {
        let el = self.element(css);
        self.run(&format!("clear {css}"), el.clear());
        self.run(&format!("type into {css}"), el.send_keys(text));
    }

    /// Clicks the first element matching `css`; does not wait for any navigation it starts (use
    /// [`Browser::submit`] for forms).
    pub fn click(&self, css: &str) {
        let el = self.element(css);
        self.run(&format!("click {css}"), el.click());
    }

    /// Submits a form as a person does, by clicking its submit button (so the browser's own
    /// validation runs), and waits for the next page to load. `css` names the form or the button.
    pub fn submit(&self, css: &str) {
        let el = self.element(css);
        let button = if self.run("read a tag name", el.tag_name()).eq_ignore_ascii_case("form") {
            let submit = Locator::Css("button:not([type]), button[type=submit], input[type=submit]");
            self.run(&format!("find the submit button of {css}"), el.find(submit))
        } else {
            el
        };
        let old = self.run("find the page", self.client().find(Locator::Css("html")));
        self.run(&format!("click the submit button of {css}"), button.click());
        // The old document's root goes stale once the response replaced it.
        self.poll(
            &format!("a new page after submitting {css} (did the browser's form validation stop it?)"),
            NAVIGATION,
            || matches!(self.try_run(old.tag_name()), Err(e) if e.is_stale_element_reference()),
        );
        self.wait_loaded();
    }

    /// The visible text of the first element matching `css` (waiting briefly for it to appear).
    pub fn text(&self, css: &str) -> String {
        let mut first = None;
        self.poll(&format!("an element matching {css}"), ELEMENT, || {
            first = self.texts(css).into_iter().next();
            first.is_some()
        });
        first.unwrap_or_default()
    }

    /// The visible text (`innerText`) of every element matching `css` now, in document order. One
    /// script reads them all, so a reload in between (`<meta http-equiv="refresh">`) cannot leave
    /// a stale element.
    pub fn texts(&self, css: &str) -> Vec<String> {
        let js = "return Array.from(document.querySelectorAll(arguments[0]), e => e.innerText)";
        let texts = self.run(&format!("read the texts of {css}"), self.client().execute(js, vec![css.into()]));
        serde_json::from_value(texts).unwrap_or_else(|e| panic!("the texts of {css} are not strings: {e}"))
    }

    /// An attribute of the first element matching `css` (waiting briefly for it to appear).
    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        let el = self.element(css);
        self.run(&format!("read {name} of {css}"), el.attr(name))
    }

    /// How many elements match `css` now (no waiting).
    pub fn count(&self, css: &str) -> usize {
        self.run(&format!("find {css}"), self.client().find_all(Locator::Css(css))).len()
    }

    /// Waits until an element matches `css`.
    pub fn wait_for(&self, css: &str, timeout: Duration) {
        self.poll(&format!("an element matching {css}"), timeout, || {
            self.try_run(self.client().find_all(Locator::Css(css))).is_ok_and(|v| !v.is_empty())
        });
    }

    /// Waits until the visible text of an element matching `css` contains `needle`. Tolerates
    /// reloads (a `<meta http-equiv="refresh">`) while waiting.
    pub fn wait_text(&self, css: &str, needle: &str, timeout: Duration) {
        self.poll(&format!("{needle:?} in {css}"), timeout, || {
            let Ok(els) = self.try_run(self.client().find_all(Locator::Css(css))) else { return false };
            els.iter().any(|el| self.try_run(el.text()).is_ok_and(|t| t.contains(needle)))
        });
    }

    /// Runs `script` in the page as the body of a function (`return` gives its value, `arguments`
    /// holds `args`) and returns that value as JSON; a script that throws fails the test.
    pub fn js(&self, script: &str, args: Vec<serde_json::Value>) -> serde_json::Value {
        self.run(&format!("run the script {script:?}"), self.client().execute(script, args))
    }

    /// Resizes the window to `width`×`height` and waits until the page's viewport is `width` CSS
    /// pixels wide (headless Chromium draws no window frame: the viewport is the whole window).
    pub fn set_window_size(&self, width: u32, height: u32) {
        self.run(&format!("resize the window to {width}×{height}"), self.client().set_window_size(width, height));
        self.poll(&format!("a viewport {width} px wide"), ELEMENT, || {
            self.try_run(self.client().execute("return window.innerWidth", vec![]))
                .is_ok_and(|w| w.as_u64() == Some(u64::from(width)))
        });
    }

    /// Saves a PNG of the viewport (to look at with an image viewer when a test puzzles).
    pub fn screenshot(&self, path: &Path) {
        let png = self.run("take a screenshot", self.client().screenshot());
        std::fs::write(path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Logs in through the login form at `base_url` (`http://127.0.0.1:PORT`); panics with the
    /// page's message if the collector refuses. A user with a one-time password ends on the
    /// change-password page ([`Browser::first_login`] goes on from there).
    pub fn login(&self, base_url: &str, user: &str, password: &str) {
        self.goto(&format!("{base_url}/login"));
        self.fill("form[action='/login'] input[name=username]", user);
        self.fill("form[action='/login'] input[name=password]", password);
        self.submit("form[action='/login']");
        if self.path() == "/login" {
            panic!("the login of {user:?} was refused: {}", self.alerts());
        }
    }

    /// The first login with a one-time password: logs in, then sets `new_password` on the forced
    /// change-password page; ends on the page the collector sends to next (the dashboard).
    pub fn first_login(&self, base_url: &str, user: &str, one_time_password: &str, new_password: &str) {
        self.login(base_url, user, one_time_password);
        let at = self.path();
        assert_eq!(at, "/cuenta/contrasena", "a one-time password must lead to the forced change{}", self.context());
        self.fill("input[name=current]", one_time_password);
        self.fill("input[name=new]", new_password);
        self.fill("input[name=confirm]", new_password);
        self.submit("form[action='/cuenta/contrasena']");
        if self.path() == "/cuenta/contrasena" {
            panic!("the new password of {user:?} was refused: {}", self.alerts());
        }
    }

    /// The texts of the page's `role="alert"` messages, joined.
    fn alerts(&self) -> String {
        let alerts = self.texts("[role=alert]");
        if alerts.is_empty() { format!("no message on the page{}", self.context()) } else { alerts.join(" ") }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("a WebDriver session")
    }

    /// The first element matching `css`, waiting up to [`ELEMENT`] for it.
    fn element(&self, css: &str) -> Element {
        let deadline = Instant::now() + ELEMENT;
        loop {
            match self.try_run(self.client().find(Locator::Css(css))) {
                Ok(el) => return el,
                Err(e) if Instant::now() >= deadline => panic!("no element matches {css}: {e}{}", self.context()),
                Err(_) => std::thread::sleep(POLL),
            }
        }
    }

    fn wait_loaded(&self) {
        self.poll("the page to finish loading", NAVIGATION, || {
            self.try_run(self.client().execute("return document.readyState", vec![]))
                .is_ok_and(|state| state == "complete")
        });
    }

    /// Polls `ready` every [`POLL`]; panics with `what` and the page after `timeout`.
    fn poll(&self, what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while !ready() {
            if Instant::now() >= deadline {
                panic!("timed out after {timeout:?} waiting for {what}{}", self.context());
            }
            std::thread::sleep(POLL);
        }
    }

    /// Runs one WebDriver command; panics on error or after [`COMMAND`].
    fn run<T>(&self, what: &str, cmd: impl Future<Output = Result<T, CmdError>>) -> T {
        match within(&self.rt, COMMAND, cmd) {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => panic!("browser: cannot {what}: {e}{}", self.context()),
            Err(_) => panic!("browser: cannot {what}: chromedriver gave no answer within {COMMAND:?}"),
        }
    }

    /// Runs one WebDriver command whose failure the caller handles (panics only after [`COMMAND`]).
    fn try_run<T>(&self, cmd: impl Future<Output = Result<T, CmdError>>) -> Result<T, CmdError> {
        within(&self.rt, COMMAND, cmd)
            .unwrap_or_else(|_| panic!("browser: chromedriver gave no answer within {COMMAND:?}"))
    }

    /// Where the browser is and what the page says, for failure messages. Never panics.
    fn context(&self) -> String {
        let Some(c) = self.client.as_ref() else { return String::new() };
        let short = Duration::from_secs(5);
        let url = within(&self.rt, short, c.current_url());
        let text = within(&self.rt, short, async { c.find(Locator::Css("body")).await?.text().await });
        let url = url.ok().and_then(Result::ok).map(|u| u.to_string()).unwrap_or_else(|| "?".into());
        let text = text.ok().and_then(Result::ok).unwrap_or_default();
        let text: String = text.chars().take(2000).collect();
        format!("\n  at {url}\n  page text: {text}")
    }

    /// chromedriver's output and the end of its log, for failures to start.
    fn driver_log(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
        let log = read("chromedriver.log");
        let tail = &log[log.floor_char_boundary(log.len().saturating_sub(4000))..];
        format!("chromedriver output:\n{}\nend of chromedriver's log:\n{tail}", read("chromedriver.out"))
    }
}

/// Runs `f` on `rt`, giving up after `limit` (the timer is made inside the runtime, which owns it).
fn within<F: Future>(
    rt: &tokio::runtime::Runtime,
    limit: Duration,
    f: F,
) -> Result<F::Output, tokio::time::error::Elapsed> {
    rt.block_on(async { tokio::time::timeout(limit, f).await })
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Normally this quits Chromium; a hung or crashed one is killed with the group below.
        if let Some(client) = self.client.take() {
            let _ = within(&self.rt, Duration::from_secs(15), client.close());
        }
        // Chromium and its helpers stay in chromedriver's process group (its crash handler
        // double-forks out of it, and exits when Chromium does). The id is that of our child.
        let _ = killpg(Pid::from_raw(self.driver.id() as i32), Signal::SIGKILL);
        let _ = self.driver.wait();
    }
}

"""Translations: the Russian catalogues of the daemon (phoenix-ga) and of the client
(phoenix-ga-client) under a real ru_RU.UTF-8 locale, while the wire stays English.

The locale is compiled with localedef into a private directory (LOCPATH), and the built
catalogues are shown at the build's LOCALEDIR through a bind mount in a private mount
namespace: nothing on the machine changes."""
import pathlib
import re
import shutil
import subprocess

import pytest

from conftest import AGENT, ROOT, Agent, require_root

BUILD = pathlib.Path(AGENT).resolve().parents[1]
CLIENT = str(BUILD / "src" / "phoenix-ga-client")


def localedir():
    m = re.search(r'#define LOCALEDIR "([^"]+)"', (BUILD / "config.h").read_text())
    return m.group(1)


@pytest.fixture(scope="module")
def russian(tmp_path_factory):
    """Returns run(argv, **kw) that runs argv under ru_RU.UTF-8 with the built catalogues."""
    require_root("mounts the catalogues in a private mount namespace")
    tmp = tmp_path_factory.mktemp("i18n")
    locpath = tmp / "locales"
    locpath.mkdir()
    subprocess.run(["localedef", "-i", "ru_RU", "-f", "UTF-8", str(locpath / "ru_RU.UTF-8")],
                   check=True, capture_output=True)
    catalogues = tmp / "share-locale" / "ru" / "LC_MESSAGES"
    catalogues.mkdir(parents=True)
    for mo in ("po/ru/LC_MESSAGES/phoenix-ga.mo", "po/client/ru/LC_MESSAGES/phoenix-ga-client.mo"):
        shutil.copy(BUILD / mo, catalogues)
    target = localedir()
    # LOCALEDIR may not exist here (e.g. /usr/local/share/locale): a tmpfs over its parent
    # inside the namespace gives a place to bind the catalogues to
    script = ('mount -t tmpfs phx-i18n "$(dirname "$1")" && mkdir -p "$1" && '
              'mount --bind "$2" "$1" && shift 2 && exec "$@"')

    def run(argv, **kw):
        env = {"PATH": "/usr/bin:/bin", "LANG": "ru_RU.UTF-8", "LOCPATH": str(locpath)}
        env.update(kw.pop("env", {}))
        return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
                               target, str(tmp / "share-locale"), *argv],
                              capture_output=True, text=True, timeout=30, env=env, **kw)
    return run


def test_agent_help_is_russian(russian):
    out = russian([AGENT, "--help"])
    assert out.returncode == 0, out.stderr
    assert "Гостевой агент для виртуальных машин qemu-kvm (протокол Phoenix)." in out.stdout
    assert "Не публиковать состояние на системной шине" in out.stdout
    assert "--config=ФАЙЛ" in out.stdout and "Читать настройки из ФАЙЛА" in out.stdout
    # and English without the locale
    plain = subprocess.run([AGENT, "--help"], capture_output=True, text=True, env={"LANG": "C"})
    assert "Do not publish state on the system bus" in plain.stdout


def test_agent_messages_are_russian(russian, tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("[general]\ndebug = может быть\n")
    out = russian([AGENT, "--config", str(conf)])
    assert out.returncode == 1
    assert out.stderr == "%s:2: debug: «может быть» — не логическое значение (true или false)\n" % conf
    out = russian([AGENT, "--no-config", "--block-commands", "ping"])
    assert out.returncode == 2 and "«ping» нельзя отключить" in out.stderr


def test_client_help_and_errors_are_russian(russian):
    out = russian([CLIENT, "--help"])
    assert out.returncode == 0
    assert "Команды:" in out.stdout and "заморозить файловые системы гостя" in out.stdout
    out = russian([CLIENT, "ping"])
    assert out.returncode == 2
    assert out.stderr == "phoenix-ga-client: сокет не задан: укажите --socket или PHOENIX_GA_SOCKET\n"


def test_the_wire_stays_english_under_a_russian_locale(russian, tmp_path):
    """The agent logs in Russian; the error it sends the host (errno text included) is English."""
    sock, rt = tmp_path / "s", tmp_path / "rt"
    out = russian(["sh", "-c", '"$0" --no-config --no-dbus -m unix-listen -p "$1" --runtime-dir "$2" & pid=$!; '
                   # ready when a connect succeeds (the socket file exists before listen())
                   'i=0; until "$3" -s "$1" ping >/dev/null 2>&1; do kill -0 $pid && [ $i -lt 3000 ] || exit 9; '
                   'i=$((i + 1)); sleep 0.01; done; '
                   '"$3" -s "$1" stat /nonexistent; echo "client=$?"; kill $pid; wait $pid',
                   AGENT, str(sock), str(rt), CLIENT])
    assert "phoenix-ga 0.1.0 обслуживает %s (unix-listen)" % sock in out.stdout + out.stderr
    assert "phoenix-ga-client: lstat /nonexistent: No such file or directory (errno ENOENT)" in out.stderr
    assert "client=1" in out.stdout

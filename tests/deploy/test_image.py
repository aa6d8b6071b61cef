"""deploy/docker/Dockerfile by structure (containers cannot run here): multi-stage on
bookworm, the build stage installs deploy/packages.txt and `cmake --install`s to
/opt/celeriac, the runtime stage has only the shared libraries this build's binaries
link (each a real bookworm package in the apt cache), a non-root user, the binary as
PID 1 in exec form, JSON logs by default and a HEALTHCHECK on /healthz."""

import os
import re
import shutil
import subprocess
import unittest

import deploy_common as d

# In debian:bookworm-slim already (Essential or required by apt).
BASE_IMAGE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}
# Runtime packages that are tools, not libraries of the binary.
TOOLS = {"curl", "ca-certificates"}


def stage(name):
    for s in d.dockerfile_stages():
        if s["name"] == name:
            return s
    raise AssertionError("no stage " + name)


def instr(s, kind):
    return [a for i, a in s["instructions"] if i == kind]


def apt_packages(s):
    pkgs = []
    for run in instr(s, "RUN"):
        for m in re.finditer(r"apt-get install ([^&|;]*)", run):
            pkgs += [w for w in m.group(1).split() if not w.startswith("-")]
    return pkgs


def needed_packages(binary):
    """Debian packages owning the NEEDED libraries of `binary` (direct ones: apt pulls
    in their own dependencies)."""
    out = subprocess.run(["objdump", "-p", binary], capture_output=True, text=True,
                         check=True).stdout
    sonames = re.findall(r"NEEDED\s+(\S+)", out)
    ldd = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    paths = dict(re.findall(r"^\s*(\S+) => (\S+)", ldd, re.M))
    pkgs = {}
    for so in sonames:
        real = os.path.realpath(paths[so])
        owner = None
        for candidate in (real, paths[so], real.replace("/usr/lib", "/lib", 1)):
            r = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
            if r.returncode == 0:
                owner = r.stdout.split(":")[0]
                break
        assert owner, "no package owns " + real
        pkgs[owner] = so
    return pkgs


class StructureTest(unittest.TestCase):
    def test_stages_on_bookworm_and_runtime_last(self):
        stages = d.dockerfile_stages()
        self.assertEqual([s["name"] for s in stages], ["build", "runtime-base", "llm-stub", "runtime"])
        for s in stages:
            self.assertIn(s["from"], ("debian:bookworm-slim", "runtime-base"))

    def test_build_stage_installs_the_package_list_and_installs_to_opt(self):
        b = stage("build")
        runs = " ".join(instr(b, "RUN"))
        self.assertIn("COPY deploy/packages.txt", " ".join("COPY " + a for a in instr(b, "COPY")))
        self.assertIn("sed -e 's/#.*//'", runs)
        self.assertIn("-DCMAKE_BUILD_TYPE=Release", runs)
        self.assertIn("cmake --install /build --prefix /opt/celeriac", runs)

    def test_runtime_non_root_exec_form_json_logs_healthcheck(self):
        r = stage("runtime")
        (user,) = instr(r, "USER")
        self.assertNotIn(user.split(":")[0], ("0", "root"))
        (entry,) = instr(r, "ENTRYPOINT")
        # Exec form: celeriac is PID 1 and receives SIGTERM itself.
        self.assertEqual(d.exec_form(entry), ["/opt/celeriac/bin/celeriac", "worker"])
        (cmd,) = instr(r, "CMD")
        cmd = d.exec_form(cmd)
        self.assertEqual(cmd[cmd.index("--log-format") + 1], "json")
        self.assertEqual(cmd[cmd.index("--http-port") + 1], "9808")
        (hc,) = instr(r, "HEALTHCHECK")
        probe = d.exec_form(hc.split("CMD", 1)[1].strip())
        self.assertIn("http://127.0.0.1:9808/healthz", probe)
        self.assertIn(probe[0], apt_packages(stage("runtime-base")))
        self.assertEqual(instr(r, "COPY"), ["--from=build /opt/celeriac /opt/celeriac"])

    def test_dockerignore_keeps_the_sources_and_drops_build_trees(self):
        ignored = [l.strip() for l in d.read(d.path("deploy", "docker", "Dockerfile.dockerignore")).splitlines()
                   if l.strip() and not l.startswith("#")]
        self.assertIn(".git", ignored)
        self.assertIn("build-*", ignored)
        for needed in ("worker", "balancer", "schemas", "tests", "cmake", "deploy/packages.txt"):
            self.assertNotIn(needed, ignored)


@unittest.skipUnless(shutil.which("apt-cache"), "not a Debian machine")
class PackagesTest(unittest.TestCase):
    def test_every_runtime_package_exists_in_the_apt_cache(self):
        for s in ("runtime-base", "llm-stub"):
            for p in apt_packages(stage(s)):
                with self.subTest(package=p):
                    r = subprocess.run(["apt-cache", "show", p], capture_output=True, text=True)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertIn("Package: " + p, r.stdout)

    @unittest.skipUnless(shutil.which("objdump") and shutil.which("dpkg"), "needs binutils, dpkg")
    def test_runtime_packages_are_exactly_the_binarys_libraries(self):
        listed = set(apt_packages(stage("runtime-base")))
        needed = needed_packages(d.celeriac_bin())
        missing = set(needed) - listed - BASE_IMAGE_PACKAGES
        self.assertEqual(missing, set(), "linked but not in the runtime stage: %s" % needed)
        extra = listed - set(needed) - TOOLS - BASE_IMAGE_PACKAGES
        self.assertEqual(extra, set(), "in the runtime stage but not linked")

    @unittest.skipUnless(shutil.which("objdump") and shutil.which("dpkg"), "needs binutils, dpkg")
    def test_llm_stub_stage_has_the_stubs_libraries(self):
        listed = set(apt_packages(stage("runtime-base"))) | set(apt_packages(stage("llm-stub")))
        missing = set(needed_packages(d.stub_bin())) - listed - BASE_IMAGE_PACKAGES
        self.assertEqual(missing, set())


if __name__ == "__main__":
    unittest.main()

"""The web console in a real headless Chromium (Debian's chromium and chromedriver, driven with
selenium), against a real runtime-host with AutoGen Python workers: a wrong token gets a clear
message; the overview counts what the host serves; the workers and agent-types views list them; a
worker's publish appears in the topic tail; an invoke returns the agent's answer, and a streamed
one shows its chunks. Each view is saved as a screenshot (CONSOLE_SCREENSHOTS, default a temporary
folder; not committed)."""

import asyncio
import contextlib
import os
import shutil
import sys
import tempfile

import pytest
from autogen_core import (
    MessageContext,
    RoutedAgent,
    TopicId,
    TypeSubscription,
    message_handler,
    try_get_known_serializers_for_type,
)
from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntime
from conftest import WAIT, our_host_with_http

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "Examples", "CrossLanguage"))
from agents_auth import start_with_token  # noqa: E402
from python_streamer import Answer, AnswerChunk, PythonWriter, Question  # noqa: E402

TOKEN = "console-token"

chromium = shutil.which("chromium") or shutil.which("chromium-browser")
chromedriver = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (chromium and chromedriver) and not os.environ.get("AGENTS_REQUIRE_BROWSER"),
    reason="chromium and chromedriver are not installed (scripts/test.sh installs them)",
)


class PyOracle(RoutedAgent):
    def __init__(self) -> None:
        super().__init__("answers questions")

    @message_handler
    async def on_question(self, message: Question, ctx: MessageContext) -> Answer:
        return Answer(text=f"{self.id.type} says: the answer to '{message.text}' is 42", confidence=0.99)


class Listener(RoutedAgent):
    def __init__(self) -> None:
        super().__init__("subscribes to news")

    @message_handler
    async def on_question(self, message: Question, ctx: MessageContext) -> None:
        pass


async def python_worker(address: str, *agents) -> GrpcWorkerAgentRuntime:
    runtime = GrpcWorkerAgentRuntime(host_address=address)
    runtime.add_message_serializer([s for t in (Question, Answer, AnswerChunk) for s in try_get_known_serializers_for_type(t)])
    await asyncio.wait_for(start_with_token(runtime, TOKEN), WAIT)
    for agent_type, factory in agents:
        await asyncio.wait_for(factory.register(runtime, agent_type, factory), WAIT)
    return runtime


def open_browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,860"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.set_page_load_timeout(WAIT)
    return driver


class Page:
    """The console in the browser, with bounded waits."""

    def __init__(self, driver, screenshots: str) -> None:
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver = driver
        self.wait = WebDriverWait(driver, WAIT)
        self.screenshots = screenshots

    def element(self, element_id: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.ID, element_id)

    def text_is(self, element_id: str, expected: str) -> None:
        self.wait.until(lambda _: self.element(element_id).text == expected, f"#{element_id} never read {expected!r}")

    def text_contains(self, element_id: str, expected: str) -> None:
        self.wait.until(lambda _: expected in self.element(element_id).text, f"#{element_id} never contained {expected!r}")

    def type_into(self, element_id: str, text: str) -> None:
        field = self.element(element_id)
        field.clear()
        field.send_keys(text)

    def view(self, name: str) -> None:
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.CSS_SELECTOR, f'#nav button[data-view="{name}"]').click()
        self.wait.until(lambda _: self.element(f"view-{name}").is_displayed())

    def rows(self, tbody_id: str) -> list[str]:
        from selenium.webdriver.common.by import By

        return [row.text for row in self.element(tbody_id).find_elements(By.TAG_NAME, "tr")]

    def screenshot(self, name: str) -> None:
        self.driver.save_screenshot(os.path.join(self.screenshots, f"{name}.png"))


def sign_in_and_overview(page: Page, http_address: str) -> None:
    page.driver.get(f"http://{http_address}/")
    page.wait.until(lambda _: page.element("login").is_displayed())
    # A wrong token: a clear message, and the console stays closed.
    page.type_into("token", "not-the-token")
    page.element("login-form").submit()
    page.text_is("login-error", "The host refused this token: invalid bearer token")
    page.screenshot("wrong-token")
    assert not page.element("main").is_displayed()
    page.type_into("token", TOKEN)
    page.element("login-form").submit()
    page.wait.until(lambda _: page.element("main").is_displayed())
    page.text_is("ov-workers", "2")
    page.text_is("ov-types", "3")
    page.text_is("who", "as shared-token")
    page.text_is("status", "connected")
    # The rate charts have a point once two samples were taken.
    page.wait.until(lambda _: page.element("rate-rpc").text != "–", "no RPC rate")
    page.screenshot("overview")


def workers_and_types(page: Page) -> None:
    page.view("workers")
    page.wait.until(lambda _: len(page.rows("workers-rows")) == 2, "the workers table never had 2 rows")
    rows = page.rows("workers-rows")
    assert any("py_oracle" in row and "py_writer" in row for row in rows), rows
    assert all("shared-token" in row for row in rows), rows
    page.text_is("workers-page", "1–2 of 2")
    page.screenshot("workers")
    page.view("types")
    page.wait.until(lambda _: len(page.rows("types-rows")) == 3, "the agent types table never had 3 rows")
    page.screenshot("agent-types")


def start_tail(page: Page) -> None:
    page.view("tail")
    page.type_into("tail-topic", "news")
    page.element("tail-form").submit()
    page.text_is("tail-state", "watching news")


def tail_shows_publish(page: Page) -> None:
    page.text_contains("tail-events", "breaking: the console works")
    page.text_contains("tail-events", "news/wire")
    page.screenshot("topic-tail")


def invoke(page: Page) -> None:
    page.view("invoke")
    page.type_into("invoke-type", "py_oracle")
    page.type_into("invoke-key", "k1")
    page.type_into("invoke-message-type", "Question")
    page.type_into("invoke-body", '{"text": "What is six times seven?"}')
    page.element("invoke-send").click()
    page.text_contains("invoke-result", "the answer to 'What is six times seven?' is 42")
    assert page.element("invoke-error").text == ""
    page.screenshot("invoke")
    # Streamed: every word arrives as a chunk, then the result.
    page.type_into("invoke-type", "py_writer")
    page.type_into("invoke-body", '{"text": "Why stream?"}')
    page.element("invoke-stream").click()
    page.element("invoke-send").click()
    page.text_contains("invoke-result", "deserves a streamed answer")
    chunks = page.element("invoke-chunks").text.split()
    assert chunks[:3] == ["py_writer/k1", "(Python)", "says:"], chunks
    page.screenshot("invoke-streamed")
    # An unknown agent type: the host's error, shown as such.
    page.element("invoke-stream").click()
    page.type_into("invoke-type", "nobody")
    page.element("invoke-send").click()
    page.text_is("invoke-error", "unknown-agent-type: no worker serves agent type 'nobody'")


def test_console_in_a_browser():
    screenshots = os.environ.get("CONSOLE_SCREENSHOTS") or tempfile.mkdtemp(prefix="agents-console-")
    os.makedirs(screenshots, exist_ok=True)

    async def scenario():
        async with our_host_with_http("--auth-token", TOKEN) as (address, http_address):
            runtime = await python_worker(address, ("py_oracle", PyOracle), ("py_writer", PythonWriter))
            listener = await python_worker(address, ("py_listener", Listener))
            await asyncio.wait_for(listener.add_subscription(TypeSubscription(topic_type="news", agent_type="py_listener")), WAIT)
            driver = await asyncio.to_thread(open_browser)
            try:
                page = Page(driver, screenshots)
                await asyncio.to_thread(sign_in_and_overview, page, http_address)
                await asyncio.to_thread(workers_and_types, page)
                await asyncio.to_thread(start_tail, page)
                await runtime.publish_message(Question(text="breaking: the console works"), TopicId("news", "wire"))
                await asyncio.to_thread(tail_shows_publish, page)
                await asyncio.to_thread(invoke, page)
            finally:
                await asyncio.to_thread(driver.quit)
                for worker in (runtime, listener):
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(worker.stop(), WAIT)
        print(f"console screenshots: {screenshots}")

    asyncio.run(scenario())



def test_console_says_so_when_the_host_restarts():
    from conftest import Process, binary, free_port

    grpc_port, http_port = free_port(), free_port()
    args = [binary("runtime-host"), "--address", f"127.0.0.1:{grpc_port}", "--http-address", f"127.0.0.1:{http_port}",
            "--auth-token", TOKEN, "--log-level", "warning"]
    host = Process(args, "runtime-host")
    driver = open_browser()
    try:
        page = Page(driver, tempfile.mkdtemp(prefix="agents-console-"))
        driver.get(f"http://127.0.0.1:{http_port}/")
        page.wait.until(lambda _: page.element("login").is_displayed())
        page.type_into("token", TOKEN)
        page.element("login-form").submit()
        page.text_is("status", "connected")
        assert host.stop() == 0
        page.text_is("status", "host unreachable — retrying")
        host = Process(args, "runtime-host")
        # Back by itself, with the token it had (kept in the tab), and says so.
        page.text_is("status", "reconnected")
        page.text_is("ov-workers", "0")
        assert page.element("main").is_displayed()
    finally:
        driver.quit()
        host.stop()

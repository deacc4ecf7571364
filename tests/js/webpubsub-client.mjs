// Runs the official @azure/web-pubsub-client for tests/webpubsub_js_client.rs.
// Usage: node webpubsub-client.mjs <client access URL>
// Prints one JSON object per line for each client event; reads one JSON command per line on
// stdin: {"cmd":"join","group":"g"}, {"cmd":"send","group":"g","data":{…}}, {"cmd":"stop"}.
import readline from "node:readline";
import { WebPubSubClient } from "@azure/web-pubsub-client";

const url = process.argv[2];
if (!url) {
  console.error("usage: node webpubsub-client.mjs <client access URL>");
  process.exit(2);
}
const emit = (event) => process.stdout.write(JSON.stringify(event) + "\n");

// Default options: the reliable subprotocol, auto-reconnect and recovery.
const client = new WebPubSubClient({ getClientAccessUrl: async () => url });
client.on("connected", (e) => emit({ event: "connected", connectionId: e.connectionId, userId: e.userId }));
client.on("disconnected", (e) => emit({ event: "disconnected", message: e.message ?? null }));
client.on("server-message", (e) =>
  emit({ event: "server-message", dataType: e.message.dataType, data: e.message.data }),
);
client.on("group-message", (e) =>
  emit({ event: "group-message", group: e.message.group, dataType: e.message.dataType, data: e.message.data }),
);

const commands = readline.createInterface({ input: process.stdin });
client.on("stopped", () => {
  emit({ event: "stopped" });
  commands.close();
  // The client leaves timers behind (keep-alive, recovery deadline); nothing else is pending.
  process.exit(0);
});

commands.on("line", async (line) => {
  let command;
  try {
    command = JSON.parse(line);
    if (command.cmd === "join") {
      await client.joinGroup(command.group);
      emit({ event: "joined", group: command.group });
    } else if (command.cmd === "send") {
      await client.sendToGroup(command.group, command.data, "json");
      emit({ event: "sent", group: command.group });
    } else if (command.cmd === "stop") {
      client.stop();
    } else {
      emit({ event: "error", message: `unknown command ${line}` });
    }
  } catch (e) {
    emit({ event: "error", cmd: command?.cmd ?? null, message: String(e?.message ?? e) });
  }
});

try {
  await client.start();
  emit({ event: "started" });
} catch (e) {
  emit({ event: "error", cmd: "start", message: String(e?.message ?? e) });
  process.exit(1);
}

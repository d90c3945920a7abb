// The web app's page code (entry point of static/js/sealroom.js): each page marks the part the
// browser fills with `data-module="NAME"`; the module's `mount` does the work there. Everything
// a module shows as verified it checked itself (see session.ts).

import * as actions from "./pages/actions";
import * as audit from "./pages/audit";
import * as dataLab from "./pages/data-lab";
import * as datasets from "./pages/datasets";
import * as development from "./pages/development";
import * as keys from "./pages/keys";
import * as media from "./pages/media";
import * as newRoom from "./pages/new-room";
import * as overview from "./pages/overview";
import * as requests from "./pages/requests";

const MODULES: Record<string, (element: HTMLElement) => Promise<void>> = {
  overview: overview.mount,
  actions: actions.mount,
  audit: audit.mount,
  development: development.mount,
  requests: requests.mount,
  "new-room": newRoom.mount,
  datasets: datasets.mount,
  keys: keys.mount,
  media: media.mount,
  "data-lab": dataLab.mount,
};

function start(): void {
  for (const element of document.querySelectorAll<HTMLElement>("[data-module]")) {
    const mount = MODULES[element.dataset["module"]!];
    if (mount) void mount(element);
  }
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();

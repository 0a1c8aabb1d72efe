// Which way a person can confirm, from what the client declared and what the operator forced.
// form: the client shows a yes/no form. url: the client opens our page. page: we hand the agent a link
// to show (stdio clients without elicitation, e.g. Claude Desktop). none: no way — nothing is sent.
import type { ConfirmVia } from "../config.js";

export type Channel = "form" | "url" | "page" | "none";

interface ElicitationCaps {
  form?: object;
  url?: object;
}

export function chooseChannel(via: ConfirmVia, elicitation: ElicitationCaps | undefined, hosted: boolean): Channel {
  const form = Boolean(elicitation?.form);
  const url = Boolean(elicitation?.url);
  // Hosted clients without elicitation are agents with no person at the screen: no link to hand out.
  const page = url ? "url" : hosted ? "none" : "page";
  if (via === "form") return form ? "form" : "none";
  if (via === "page") return page;
  return form ? "form" : page;
}

import type { Page } from "playwright-core";

/**
 * Opens the gateway's /mesh page and gives it `token` as an operator does:
 * typed into its form (the page keeps it in the tab's sessionStorage and
 * reads the mesh's state with it). Resolves once the form is submitted.
 */
export async function signInToMeshPage(page: Page, gatewayUrl: string, token: string): Promise<void> {
  await page.goto(`${gatewayUrl}/mesh`);
  await page.getByTestId("sign-in").waitFor({ state: "visible", timeout: 30_000 });
  await page.locator("#token").fill(token);
  await page.locator('#sign-in button[type="submit"]').click();
}

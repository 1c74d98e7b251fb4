// List API tokens and delete the unused ones
const URL = process.env.APITOKEN_URL; // changed: the base URL of the server under test
const API_PATH = "/api/v1";

const name = process.env.APITOKEN_NAME; // changed: credentials
const password = process.env.APITOKEN_PASSWORD; // changed: credentials

try {
    // Step 1: Login to get session token
    const loginResponse = await fetch(`${URL}${API_PATH}/login`, {
        method: 'POST',
        body: JSON.stringify({ name, password, returnToken: true }),
        headers: { 'Content-Type': 'application/json' }
    });
    if (!loginResponse.ok) {
        throw new Error(`Login failed: ${loginResponse.status} ${loginResponse.statusText}`);
    }
    const { token } = await loginResponse.json();

    // Step 2: List all active API tokens
    const listTokensResponse = await fetch(`${URL}${API_PATH}/api/key?token=${token}`);
    if (!listTokensResponse.ok) {
        throw new Error(`Token fetch failed: ${listTokensResponse.status} ${listTokensResponse.statusText}`);
    }
    const { results: apiTokens } = await listTokensResponse.json();

    // Step 3: Find unused tokens (example logic - customize as needed)
    // tokens not used in the last 90 days
    const ninetyDaysAgo = new Date();
    ninetyDaysAgo.setDate(ninetyDaysAgo.getDate() - 90);
    const unusedTokens = apiTokens.filter((token) => {
        const lastUsed = new Date(token.lastUsed);
        return (lastUsed < ninetyDaysAgo);
    });

    // Step 4: Revoke unused tokens
    for (const tokenToDelete of unusedTokens) {
        const deleteResponse = await fetch(`${URL}${API_PATH}/api/key/${tokenToDelete.id}?token=${token}`, { // changed: authenticated with the session token
            method: 'DELETE'
        });

        if (!deleteResponse.ok) {
            console.error(`Failed to revoke API token: ${tokenToDelete.id}`);
        } else {
            console.log(`Revoked unused API token: ${tokenToDelete.id}`);
        }
    }

    // Step 5: Logout the session
    await fetch(`${URL}${API_PATH}/logout?token=${token}`);

} catch (error) {
    console.error('Error in API Token revocation flow:', error.message);
}

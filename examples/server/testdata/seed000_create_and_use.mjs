// Create and use API token
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

    // Step 2: Get API token
    const apiTokenResponse = await fetch(`${URL}${API_PATH}/api/key?token=${token}`, {
        method: 'POST',
        body: JSON.stringify({ description: "API token for server-to-server authentication" }),
        headers: { 'Content-Type': 'application/json' }
    });
    if (!apiTokenResponse.ok) {
        throw new Error(`API Token fetch failed: ${apiTokenResponse.status} ${apiTokenResponse.statusText}`);
    }
    const { id: apiToken } = await apiTokenResponse.json();

    // Step 3: Logout the session token
    await fetch(`${URL}${API_PATH}/logout?token=${token}`);

    // Step 4: Use API token to fetch the documents (illustrative purpose)
    const searchResponse = await fetch(`${URL}${API_PATH}/search?token=${apiToken}`, {
        method: 'POST',
        body: JSON.stringify({ from: 0, size: 10 }),
        headers: { 'Content-Type': 'application/json' }
    });
    if (!searchResponse.ok) {
        throw new Error(`Search operation failed: ${searchResponse.status} ${searchResponse.statusText}`);
    }
    const result = await searchResponse.json();

} catch (error) {
    console.error('Error in API Token flow:', error.message);
}
